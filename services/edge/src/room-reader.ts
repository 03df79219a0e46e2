import type { Client } from "@connectrpc/connect";
import type { Message, MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";

/** ListMessages answers at most this many per page. */
const PAGE = 200;

/**
 * Reads a stretch of a room from the messages service: its messages with ids in
 * (afterId, beforeId), oldest first, at most `count` of them (deleted ones included, as
 * history has them). Room ordering uses it to fetch the messages whose live events are late.
 */
export function createRoomReader(messages: Client<typeof MessagesService>) {
  return async (roomId: bigint, afterId: bigint, beforeId: bigint, count: number): Promise<Message[]> => {
    const found: Message[] = [];
    let before = beforeId;
    while (found.length < count) {
      const page = await messages.listMessages({ roomId, beforeId: before, pageSize: Math.min(PAGE, count - found.length) });
      for (const message of page.messages) if (message.id > afterId) found.push(message);
      const oldest = page.messages.at(-1)?.id;
      if (page.nextBeforeId === 0n || oldest === undefined || oldest <= afterId) break;
      before = page.nextBeforeId;
    }
    return found.reverse();
  };
}
