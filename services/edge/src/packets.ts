import type { Server } from "socket.io";
import { PacketType } from "socket.io-parser";

/** A Socket.IO event encoded once (the default parser's frames), ready for many sockets. */
export type EncodedPacket = ReturnType<Server["encoder"]["encode"]>;

/** What writing needs of a socket: its Engine.IO connection, through Socket.IO's client. */
export interface Writable {
  connected: boolean;
  client?: { conn?: { readyState?: string }; writeToEngine?(packets: EncodedPacket, opts: { preEncoded: boolean }): void };
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
  client.writeToEngine(packet, { preEncoded: true });
  return true;
}
