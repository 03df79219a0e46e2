import type { ConnectRouter } from "@connectrpc/connect";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { createRoomsService, type RoomsDeps } from "./service.js";

export const SERVICE_NAMES = [RoomsService.typeName];

/** The routes of the rooms server; listening is the kit's job. */
export function createRoutes(deps: RoomsDeps) {
  return (router: ConnectRouter) => {
    router.service(RoomsService, createRoomsService(deps));
  };
}
