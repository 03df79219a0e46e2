import type { ServiceImpl } from "@connectrpc/connect";
import { invalidArgument, requireBatch, requireId, startPeriodic, toTimestamp, type Logger, type Periodic } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { DeliveryDb } from "./db/queries.js";
import * as p from "./db/presence.js";
import type { EventPublisher } from "./events.js";


const EDGE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function requireEdgeId(edgeId: string): string {
  if (!EDGE_ID.test(edgeId)) throw invalidArgument("edge_id must be 1 to 64 letters, digits, '_', '.' or '-'");
  return edgeId;
}

export interface PresenceDeps {
  db: DeliveryDb;
  events: EventPublisher;
}

type PresenceHandlers = Pick<ServiceImpl<typeof DeliveryService>, "reportPresence" | "edgeHeartbeat" | "batchGetPresence">;

/**
 * Who is online: edges report the users they hold and say they are alive; a user is online
 * while any live edge holds them. Changes are published for watchers (PresenceChanged).
 */
export function createPresenceHandlers({ db, events }: PresenceDeps): PresenceHandlers {
  const publish = (changes: p.PresenceChange[]) => Promise.all(changes.map((c) => events.presence(c.userId, c.online, c.at)));
  return {
    async reportPresence(req) {
      const edgeId = requireEdgeId(req.edgeId);
      const reports = requireBatch(req.reports, "reports", "reports").map((r, i) => ({ userId: requireId(r.userId, `reports[${i}].user_id`), online: r.online }));
      await publish(await p.reportPresence(db, edgeId, reports));
      return {};
    },

    async edgeHeartbeat(req) {
      const { changes, known } = await p.edgeHeartbeat(db, requireEdgeId(req.edgeId), req.reset);
      await publish(changes);
      return { known };
    },

    async batchGetPresence(req) {
      const userIds = requireBatch(req.userIds, "user_ids", "users").map((id, i) => requireId(id, `user_ids[${i}]`));
      const known = await p.presenceOf(db, userIds);
      const now = new Date();
      return {
        presences: userIds.map((userId) => {
          const state = known.get(userId);
          return { userId, online: state?.online ?? false, lastSeen: toTimestamp(state?.online ? now : state?.lastSeen) };
        }),
      };
    },
  };
}

/**
 * Every third of the timeout, lets go of the users of edges that stopped saying they are
 * alive (a crashed edge), so nobody stays online forever: a dead edge's users are offline at
 * most 4/3 of the timeout after its last sign. Every replica runs it; each dead edge is
 * released once.
 */
export function startPresenceReaper({ db, events }: PresenceDeps, logger: Logger, silentMs: number): Periodic {
  return startPeriodic(
    "[PRESENCE] reaping silent edges",
    Math.ceil(silentMs / 3),
    async () => {
      const changes = await p.reapDeadEdges(db, silentMs);
      if (changes.length > 0) logger.info({ offline: changes.length }, "[PRESENCE] users of silent edges went offline");
      await Promise.all(changes.map((c) => events.presence(c.userId, c.online, c.at)));
    },
    logger,
  );
}
