export { createChatClient } from "./client.js";
export { ChatError, type ChatErrorCode } from "./errors.js";
export { newClientMsgId, compareIds } from "./ids.js";
export { localStorageOutbox, memoryOutbox, type OutboxEntry, type OutboxStore, type StorageLike } from "./outbox.js";
export type * from "./types.js";
