import type { Client } from "@connectrpc/connect";
import { createSingleFlight } from "@redup/kit";
import { RoomType, type Room, type RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";

/**
 * Rooms never change once created, so resolved rooms are cached: a conversation's later
 * messages skip the rooms service. The cache is bounded; the oldest entries go first.
 */
export interface RoomDirectory {
  /** The room a message from `senderId` to `to` belongs in, created if needed. */
  resolve(type: RoomType, senderId: bigint, to: bigint): Promise<Room>;
  /** A room by id. */
  get(roomId: bigint): Promise<Room>;
}

export function createRoomDirectory(rooms: Client<typeof RoomsService>, maxEntries = 50_000): RoomDirectory {
  const byKey = new Map<string, Room>();
  const remember = (key: string, room: Room) => {
    if (byKey.size >= maxEntries) byKey.delete(byKey.keys().next().value!);
    byKey.set(key, room);
    return room;
  };
  const idKey = (id: bigint) => `id:${id}`;
  const pairKey = (a: bigint, b: bigint) => (a < b ? `d:${a}:${b}` : `d:${b}:${a}`);

  // Lookups of one room at the same time share one call (a new pair's first messages).
  const flight = createSingleFlight<Room>();
  const once = (key: string, lookup: () => Promise<Room>) => flight(key, lookup).result;

  return {
    async resolve(type, senderId, to) {
      const key = type === RoomType.DIRECTO ? pairKey(senderId, to) : `g:${to}`;
      const cached = byKey.get(key);
      if (cached) return cached;
      return once(key, async () => {
        const { room } =
          type === RoomType.DIRECTO
            ? await rooms.resolveDirectRoom({ userId: senderId, peerId: to })
            : await rooms.resolveGroupRoom({ groupId: to });
        remember(idKey(room!.id), room!);
        return remember(key, room!);
      });
    },
    async get(roomId) {
      const cached = byKey.get(idKey(roomId));
      if (cached) return cached;
      return once(idKey(roomId), async () => remember(idKey(roomId), (await rooms.getRoom({ roomId })).room!));
    },
  };
}
