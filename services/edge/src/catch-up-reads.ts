import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { createBatcher } from "@redup/kit";
import type { DeliveryService, ListPendingRequestSchema, ListPendingResponse } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { Message, MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import type { ListUserGroupsRequestSchema, ListUserGroupsResponse, RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";

/** The reads a connecting socket makes, gathered across sockets into batch calls. */
export interface CatchUpReads {
  /** One page of the user's groups (rooms). */
  userGroups(request: MessageInitShape<typeof ListUserGroupsRequestSchema>): Promise<ListUserGroupsResponse>;
  /** One page of the user's pending messages (delivery). */
  pending(request: MessageInitShape<typeof ListPendingRequestSchema>): Promise<ListPendingResponse>;
  /** These messages, in this order; unknown ids are skipped (messages). */
  messages(ids: bigint[]): Promise<Message[]>;
}

/** Requests per batch call; a reconnect storm's catch-ups share a few calls instead of three each. */
const MAX_BATCH = 256;
/** Pages of message ids per BatchGetMessages call (a page holds up to 100; the RPC takes 1000). */
const MAX_PAGES = 10;
const MAX_IN_FLIGHT = 2;

/**
 * Every connect reads the user's groups, pending messages and their contents: three calls per
 * socket, which in a reconnect storm of thousands of sockets cost more CPU than the replays
 * themselves. Reads that arrive while a call is in flight go together in the next one
 * (BatchListUserGroups, BatchListPending, BatchGetMessages), each socket still getting its own
 * answer (or the error its own request met: an invalid request fails the call, and then every
 * socket in it retries as the failed connect always has).
 */
export function createCatchUpReads(
  rooms: Client<typeof RoomsService>,
  delivery: Client<typeof DeliveryService>,
  messages: Client<typeof MessagesService>,
): CatchUpReads {
  const userGroups = createBatcher<MessageInitShape<typeof ListUserGroupsRequestSchema>, ListUserGroupsResponse>({
    name: "user-groups",
    maxBatch: MAX_BATCH,
    maxInFlight: MAX_IN_FLIGHT,
    run: async (requests) => (await rooms.batchListUserGroups({ requests })).responses,
  });
  const pending = createBatcher<MessageInitShape<typeof ListPendingRequestSchema>, ListPendingResponse>({
    name: "pending",
    maxBatch: MAX_BATCH,
    maxInFlight: MAX_IN_FLIGHT,
    run: async (requests) => (await delivery.batchListPending({ requests })).responses,
  });
  const contents = createBatcher<bigint[], Message[]>({
    name: "messages",
    maxBatch: MAX_PAGES,
    maxInFlight: MAX_IN_FLIGHT,
    run: async (pages) => {
      const ids = [...new Set(pages.flat())];
      const byId = new Map((await messages.batchGetMessages({ messageIds: ids })).messages.map((m) => [m.id, m]));
      return pages.map((page) => page.flatMap((id) => byId.get(id) ?? []));
    },
  });
  return { userGroups, pending, messages: contents };
}
