import type { ConnectRouter } from "@connectrpc/connect";
import { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { createMessagesService, type MessagesDeps } from "./service.js";

export const SERVICE_NAMES = [MessagesService.typeName];

/** The routes of the messages server; listening is the kit's job. */
export function createRoutes(deps: MessagesDeps) {
  return (router: ConnectRouter) => {
    router.service(MessagesService, createMessagesService(deps));
  };
}
