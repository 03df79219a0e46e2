/**
 * Which conversation a message belongs to, seen from one user: the group for a group
 * message, the other person for a direct one (whoever sent it).
 */
import type { ChatType, ReceivedMessage } from "@redup/client";

export interface RoomRef {
  type: ChatType;
  to: string;
}

export const roomKey = (room: RoomRef): string => `${room.type}:${room.to}`;

export function roomOf(message: Pick<ReceivedMessage, "type" | "from" | "to">, me: string): RoomRef {
  if (message.type === "grupal") return { type: "grupal", to: message.to };
  return { type: "directo", to: message.from === me ? message.to : message.from };
}

export const roomName = (room: RoomRef): string => (room.type === "grupal" ? `Grupo ${room.to}` : `Usuario ${room.to}`);
