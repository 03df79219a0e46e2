import { compareIds } from "./ids.js";

/**
 * Which messages were already handed to the app, per room, in bounded memory: the newest
 * `perRoom` ids of each of the `maxRooms` most recently active rooms. An id at or below the
 * newest one a room's window had to forget counts as seen: a replay that old is a
 * duplicate, since a room's messages reach a client in the room's order.
 */
export class SeenIds {
  private readonly rooms = new Map<string, { ids: Set<string>; forgottenUpTo: string | undefined; newestShown: string | undefined }>();

  constructor(
    private readonly perRoom = 1000,
    private readonly maxRooms = 2000,
  ) {}

  has(room: string, id: string): boolean {
    const window = this.rooms.get(room);
    if (!window) return false;
    if (window.ids.has(id)) return true;
    return window.forgottenUpTo !== undefined && compareIds(id, window.forgottenUpTo) <= 0;
  }

  /** The newest id handed to the app as a `message` in the room (the user's own sends do not count). */
  newestShown(room: string): string | undefined {
    return this.rooms.get(room)?.newestShown;
  }

  /** `shown`: handed to the app as a `message`, not only known (e.g. sent by this client). */
  add(room: string, id: string, shown = false): void {
    let window = this.rooms.get(room);
    if (window) this.rooms.delete(room);
    else window = { ids: new Set(), forgottenUpTo: undefined, newestShown: undefined };
    if (shown && (window.newestShown === undefined || compareIds(id, window.newestShown) > 0)) window.newestShown = id;
    // Re-inserted: Map order is recency, the first key is the room to forget first.
    this.rooms.set(room, window);
    window.ids.add(id);
    if (window.ids.size > this.perRoom) {
      let oldest: string | undefined;
      for (const known of window.ids) if (oldest === undefined || compareIds(known, oldest) < 0) oldest = known;
      window.ids.delete(oldest!);
      if (window.forgottenUpTo === undefined || compareIds(oldest!, window.forgottenUpTo) > 0) window.forgottenUpTo = oldest;
    }
    if (this.rooms.size > this.maxRooms) this.rooms.delete(this.rooms.keys().next().value!);
  }
}
