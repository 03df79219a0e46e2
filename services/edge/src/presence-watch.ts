import { fromBinary } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { describeError, type BusSubscription, type EventBus, type Logger, type Subjects } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { PresenceChangedSchema } from "@redup/proto/redup/events/v1/events_pb";
import type { PresenceEvent } from "./events.js";
import type { Member } from "./fanout.js";
import { holdWrites } from "./packets.js";
import { ProtocolError } from "./protocol/errors.js";
import { isoUtc } from "./protocol/format.js";

/** Users one socket may watch at once. */
export const MAX_WATCHED_PER_SOCKET = 200;

/**
 * Presence watching: a socket names the users it shows (a contact list, a conversation's
 * header) and gets `presence` on each change. The edge subscribes once per watched user, to
 * that user's presence subject, however many of its sockets watch them.
 */
export interface PresenceWatch {
  /** Adds users to the socket's watch list and answers their presence now (in the order given). */
  watch(member: Member, userIds: string[]): Promise<PresenceEvent[]>;
  unwatch(member: Member, userIds: string[]): void;
  /** A socket closed. */
  forget(member: Member): void;
  /** Users watched on this edge (one subscription each). */
  readonly watchedCount: number;
  close(): void;
}

export interface PresenceWatchDeps {
  bus: EventBus;
  subjects: Subjects;
  delivery: Client<typeof DeliveryService>;
  logger: Logger;
}

export function createPresenceWatch({ bus, subjects, delivery, logger }: PresenceWatchDeps): PresenceWatch {
  const watchers = new Map<string, Set<Member>>();
  const subscriptions = new Map<string, BusSubscription>();
  const bySocket = new WeakMap<Member, Set<string>>();

  const onChange = (data: Uint8Array) => {
    try {
      const change = fromBinary(PresenceChangedSchema, data);
      const userId = String(change.userId);
      const event: PresenceEvent = { user_id: userId, online: change.online, last_seen: change.lastSeen ? isoUtc(change.lastSeen) : null };
      for (const member of watchers.get(userId) ?? []) {
        holdWrites(member.socket);
        member.socket.emit("presence", event);
      }
    } catch (err) {
      logger.warn({ err: describeError(err) }, "[NATS] undecodable presence event dropped");
    }
  };

  const add = (member: Member, userId: string) => {
    let set = watchers.get(userId);
    if (!set) {
      watchers.set(userId, (set = new Set()));
      subscriptions.set(userId, bus.subscribe(subjects.presence(userId), onChange));
    }
    set.add(member);
  };

  const remove = (member: Member, userId: string) => {
    const set = watchers.get(userId);
    if (!set) return;
    set.delete(member);
    if (set.size > 0) return;
    watchers.delete(userId);
    subscriptions.get(userId)?.unsubscribe();
    subscriptions.delete(userId);
  };

  return {
    async watch(member, userIds) {
      const mine = bySocket.get(member) ?? new Set<string>();
      const added = userIds.filter((id) => !mine.has(id));
      if (mine.size + added.length > MAX_WATCHED_PER_SOCKET)
        throw new ProtocolError("TOO_MANY_WATCHED", `una conexión puede observar como máximo ${MAX_WATCHED_PER_SOCKET} usuarios`);
      bySocket.set(member, mine);
      // Subscribed before the state is read, so no change falls between the two.
      for (const id of added) {
        mine.add(id);
        add(member, id);
      }
      try {
        const { presences } = await delivery.batchGetPresence({ userIds: userIds.map(BigInt) });
        return presences.map((p) => ({ user_id: String(p.userId), online: p.online, last_seen: p.lastSeen ? isoUtc(p.lastSeen) : null }));
      } catch (err) {
        for (const id of added) {
          mine.delete(id);
          remove(member, id);
        }
        throw err;
      }
    },

    unwatch(member, userIds) {
      const mine = bySocket.get(member);
      if (!mine) return;
      for (const id of userIds) {
        if (mine.delete(id)) remove(member, id);
      }
    },

    forget(member) {
      for (const id of bySocket.get(member) ?? []) remove(member, id);
      bySocket.delete(member);
    },

    get watchedCount() {
      return watchers.size;
    },

    close() {
      for (const sub of subscriptions.values()) sub.unsubscribe();
      subscriptions.clear();
      watchers.clear();
    },
  };
}
