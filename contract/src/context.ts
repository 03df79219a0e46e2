import type { ServiceError } from "@grpc/grpc-js";
import { statusName, type Reply, type StatusName, type Target } from "./grpc.js";

/** The three services a deployment runs, by the name their flag has. */
export const SERVICES = ["rooms", "messages", "delivery"] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The users and group the checks act as: fresh random ids, or ids named on the command line. */
export interface Ids {
  /** Three users: a sends to b; c is a third party (not a recipient, not the sender). */
  a: string;
  b: string;
  c: string;
  /** A group a and b are members of. */
  group: string;
  /** An id no row has (a user, group, room or message that does not exist). */
  unknown: string;
  /** A new id on each call, for checks that need a user nobody else uses. */
  fresh(): string;
}

/** Random ids far above real ones, so runs never collide with each other or with real data. */
export function randomIds(named?: { users?: string[] | undefined; group?: string | undefined }): Ids {
  const base = 1_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e9)) * 1000n;
  let next = base + 10n;
  const [a = String(base + 1n), b = String(base + 2n), c = String(base + 3n)] = named?.users ?? [];
  return {
    a,
    b,
    c,
    group: named?.group ?? String(base + 4n),
    unknown: String(base + 999n),
    fresh: () => String(next++),
  };
}

/** What every check gets: the services, the ids, shared data made once, and assertions' helpers. */
export interface CheckContext {
  /** The target the checked RPC is served on (for health and reflection: each in turn). */
  target: Target;
  /** The RedUP services routed to that target (e.g. redup.rooms.v1.RoomsService). */
  served: string[];
  targets: Record<ServiceName, Target>;
  ids: Ids;
  rooms(method: string, request: object): Promise<Reply>;
  messages(method: string, request: object): Promise<Reply>;
  delivery(method: string, request: object): Promise<Reply>;
  /** Data several checks need, made once per run. */
  fixtures: Fixtures;
  /** The status a call is refused with; fails if the call succeeds. */
  refusal(call: Promise<unknown>): Promise<StatusName>;
}

export interface Fixtures {
  /** a and b are members of ids.group (joined through RoomsService.JoinGroup). */
  group(): Promise<void>;
  /** A direct message a → b, stored and handed off (its recipient recorded). */
  direct(): Promise<Reply>;
  /** A new direct message a → b, once delivery has recorded its recipient. */
  newDirect(content: string): Promise<Reply>;
}

const once = <T>(make: () => Promise<T>) => {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
};

export function createContext(targets: Record<ServiceName, Target>, ids: Ids): Omit<CheckContext, "target" | "served"> {
  const rooms = (method: string, request: object) => targets.rooms.unary(`redup.rooms.v1.RoomsService/${method}`, request);
  const messages = (method: string, request: object) => targets.messages.unary(`redup.messages.v1.MessagesService/${method}`, request);
  const delivery = (method: string, request: object) => targets.delivery.unary(`redup.delivery.v1.DeliveryService/${method}`, request);
  /**
   * SendMessage answers once the message is stored; delivery records its recipients right
   * after, in the background. Checks that need the recipient's row wait for it (bounded).
   */
  const newDirect = async (content: string) => {
    const message = (await messages("SendMessage", { senderId: ids.a, type: "ROOM_TYPE_DIRECTO", to: ids.b, messageType: "MESSAGE_TYPE_TEXTO", content }))["message"] as Reply;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const receipts = await delivery("GetReceipts", { messageId: message["id"] }).catch(() => undefined);
      if (receipts?.["receipts"]?.some((r: { recipientId: string }) => r.recipientId === ids.b)) return message;
      if (Date.now() > deadline) throw new Error(`delivery did not record the recipient of message ${message["id"]} within 10 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const fixtures: Fixtures = {
    group: once(async () => {
      for (const userId of [ids.a, ids.b]) await rooms("JoinGroup", { groupId: ids.group, userId });
    }),
    direct: once(() => newDirect("Hola, ¿cómo estás?")),
    newDirect,
  };
  return {
    targets,
    ids,
    rooms,
    messages,
    delivery,
    fixtures,
    async refusal(call) {
      try {
        await call;
      } catch (err) {
        return statusName((err as ServiceError).code);
      }
      throw new Error("the call succeeded; a refusal was expected");
    },
  };
}
