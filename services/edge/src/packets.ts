import type { Server } from "socket.io";
import { PacketType } from "socket.io-parser";

/** A Socket.IO event encoded once (the default parser's frames), ready for many sockets. */
export type EncodedPacket = ReturnType<Server["encoder"]["encode"]>;

/** The TCP socket under a websocket connection (engine.io transport → ws → net.Socket). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** What writing needs of a socket: its Engine.IO connection, through Socket.IO's client. */
export interface Writable {
  connected: boolean;
  client?: { conn?: { readyState?: string }; writeToEngine?(packets: EncodedPacket, opts: { preEncoded: boolean }): void };
  conn?: { transport?: { socket?: { _socket?: Corkable } } };
}

const held = new Set<Corkable>();
let releasing = false;
const release = () => {
  releasing = false;
  for (const tcp of held) tcp.uncork();
  held.clear();
};

/**
 * Gathers what is written to a socket during this turn of the event loop into one system
 * call: the TCP socket is corked now and uncorked once the current work (and the promise
 * callbacks it started) is done. An ACK is two frames (callback and `ack` event), and a busy
 * socket gets several messages per turn; each frame was otherwise a writev of its own, the
 * edge's largest single cost under load. Polling sockets are left as they are.
 */
export function holdWrites(socket: Writable): void {
  const tcp = socket.conn?.transport?.socket?._socket;
  if (!tcp || held.has(tcp)) return;
  tcp.cork();
  held.add(tcp);
  if (!releasing) {
    releasing = true;
    process.nextTick(release);
  }
}

/**
 * Encodes an event the way socket.emit would, once: a message that reaches fifty sockets is
 * turned into JSON once, not fifty times. The guide's clients see the same frames.
 */
export function createPacketEncoder(io: Server): (event: string, payload: unknown) => EncodedPacket {
  return (event, payload) => io.encoder.encode({ type: PacketType.EVENT, data: [event, payload], nsp: "/" });
}

/**
 * Writes an encoded event to one socket, as Socket.IO's own broadcast does (its adapter
 * encodes once and calls writeToEngine for each socket); false when the socket is gone.
 */
export function writePacket(socket: Writable, packet: EncodedPacket): boolean {
  const client = socket.client;
  if (!socket.connected || !client?.writeToEngine || client.conn?.readyState !== "open") return false;
  holdWrites(socket);
  client.writeToEngine(packet, { preEncoded: true });
  return true;
}
