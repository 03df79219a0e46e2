import type { ConnectRouter } from "@connectrpc/connect";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { createDeliveryService, type DeliveryDeps } from "./service.js";

export const SERVICE_NAMES = [DeliveryService.typeName];

/** The routes of the delivery server; listening is the kit's job. */
export function createRoutes(deps: DeliveryDeps) {
  return (router: ConnectRouter) => {
    router.service(DeliveryService, createDeliveryService(deps));
  };
}
