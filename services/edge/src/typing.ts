import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { EventBus, Subjects } from "@redup/kit";
import { TypingChangedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { ChatType, TypingEvent } from "./events.js";
import type { Member } from "./fanout.js";
import { holdWrites } from "./packets.js";

/**
 * Typing indicators: ephemeral, over NATS only, never stored. The typer's edge publishes to
 * the peer's user subject or the group's; each receiving edge emits `typing` to its sockets of
 * the conversation (never the typer's own) and ends it by itself with `typing_stop` when no new
 * `typing` comes within the TTL, so a typer who vanishes never types forever.
 */
export interface Typing {
  /** Publishes that `userId` started (true) or stopped typing to a peer or in a group. */
  publish(userId: string, type: ChatType, to: bigint, typing: boolean): Promise<void>;
  /** A TypingChanged that arrived on a user's or a group's subject. */
  receive(scope: "user" | "group", id: string, data: Uint8Array): void;
  close(): void;
}

export interface TypingDeps {
  bus: EventBus;
  subjects: Subjects;
  ttlMs: number;
  /** This edge's sockets of a user, or of a group's members. */
  targets(scope: "user" | "group", id: string): Iterable<Member>;
}

export function createTyping({ bus, subjects, ttlMs, targets }: TypingDeps): Typing {
  /** Typers seen here, by conversation and typer, with the timer that ends their typing. */
  const active = new Map<string, NodeJS.Timeout>();

  const emit = (scope: "user" | "group", id: string, event: "typing" | "typing_stop", payload: TypingEvent) => {
    for (const member of targets(scope, id)) {
      if (member.userId === payload.from) continue;
      holdWrites(member.socket);
      member.socket.emit(event, payload);
    }
  };

  return {
    async publish(userId, type, to, typing) {
      const event = create(TypingChangedSchema, {
        userId: BigInt(userId),
        type: type === "grupal" ? RoomType.GRUPAL : RoomType.DIRECTO,
        to,
        typing,
        ttlMs,
      });
      await bus.publish(type === "grupal" ? subjects.groupTyping(to) : subjects.userTyping(to), toBinary(TypingChangedSchema, event));
    },

    receive(scope, id, data) {
      const change = fromBinary(TypingChangedSchema, data);
      const payload: TypingEvent = { from: String(change.userId), type: scope === "group" ? "grupal" : "directo", to: id };
      const key = `${scope}:${id}:${payload.from}`;
      const running = active.get(key);
      if (running) clearTimeout(running);
      if (!change.typing) {
        active.delete(key);
        // A stop for a typing this edge never showed has nothing to end.
        if (running) emit(scope, id, "typing_stop", payload);
        return;
      }
      const ttl = change.ttlMs > 0 ? Math.min(change.ttlMs, ttlMs * 2) : ttlMs;
      const timer = setTimeout(() => {
        active.delete(key);
        emit(scope, id, "typing_stop", payload);
      }, ttl);
      timer.unref();
      active.set(key, timer);
      // Refreshes are passed on too: a socket that connected meanwhile learns of the typing.
      emit(scope, id, "typing", payload);
    },

    close() {
      for (const timer of active.values()) clearTimeout(timer);
      active.clear();
    },
  };
}
