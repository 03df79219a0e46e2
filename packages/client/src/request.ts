import type { ClientToServerEvents } from "@redup/edge/events";
import type { ChatSocket } from "./connection.js";
import { ChatError, isErrorReply } from "./errors.js";

type Payload<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]>[0];
type Reply<E extends keyof ClientToServerEvents> = Exclude<Parameters<NonNullable<Parameters<ClientToServerEvents[E]>[1]>>[0], { status: "error" }>;

/**
 * Emits a client event with an acknowledgement and resolves with the reply, or rejects with
 * a ChatError: the edge's refusal, TIMEOUT, or DISCONNECTED when the connection dropped first.
 */
export function request<E extends keyof ClientToServerEvents>(socket: ChatSocket, event: E, payload: Payload<E>, timeoutMs: number): Promise<Reply<E>> {
  return new Promise((resolve, reject) => {
    // Every event of the map takes (payload, ack); socket.io's typing cannot see that through E.
    const timed = socket.timeout(timeoutMs) as unknown as { emit(e: E, p: Payload<E>, cb: (err: Error | null, reply: unknown) => void): void };
    timed.emit(event, payload, (err, reply) => {
      if (err) return reject(new ChatError(socket.connected ? "TIMEOUT" : "DISCONNECTED", err.message, event));
      if (isErrorReply(reply)) return reject(ChatError.fromReply(reply, event));
      resolve(reply as Reply<E>);
    });
  });
}
