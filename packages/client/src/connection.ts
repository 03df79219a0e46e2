import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "@redup/edge/events";
import { backoffDelay } from "./backoff.js";
import type { ChatAuth, ChatClientOptions, ConnectionState } from "./types.js";

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface ConnectionHooks {
  state(state: ConnectionState): void;
  /** The edge said `connected`: the socket is usable, as `userId`. */
  online(userId: string): void;
  offline(): void;
}

// Handshake refusals that pass: the edge is full or its auth backend is down. Others are final.
const RETRY_LATER = new Set(["TOO_MANY_CONNECTIONS", "SERVER_FULL", "SERVICE_UNAVAILABLE"]);

/**
 * One socket.io socket and the connection state machine around it:
 *
 *   connecting ──connected──▶ online ──drop──▶ reconnecting ──connected──▶ online
 *        └──── refused for good, or close() ────▶ offline
 *
 * socket.io reconnects by itself after a network drop; it does not after the edge refused the
 * handshake or disconnected the socket on purpose. Then this decides: an expired or refused
 * token is refreshed (when `refreshToken` is given) and the handshake tried again, a full
 * edge is tried again after a backoff, anything else ends offline with the refusal's code.
 */
export class Connection {
  readonly socket: ChatSocket;
  private current: ConnectionState = { status: "offline", reason: "not connected yet" };
  private auth: ChatAuth;
  private closed = true;
  private everOnline = false;
  private tokenRejected = false;
  private refreshedSinceOnline = false;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly options: ChatClientOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.auth = options.auth;
    this.socket = io(options.url, {
      transports: ["websocket", "polling"],
      ...options.socket,
      autoConnect: false,
      // A function, so every handshake (reconnects included) presents the latest token.
      auth: (cb) => cb({ ...this.auth }),
    });
    const socket = this.socket;
    socket.on("connected", ({ user_id }) => {
      this.retries = 0;
      this.everOnline = true;
      this.refreshedSinceOnline = false;
      this.tokenRejected = false;
      this.set({ status: "online" });
      this.hooks.online(user_id);
    });
    socket.on("error", (e) => {
      // The edge cuts a socket whose token expired, after saying so.
      if (e.event === "connection" && e.code === "UNAUTHORIZED") this.tokenRejected = true;
    });
    socket.on("disconnect", (reason) => {
      this.hooks.offline();
      if (this.closed) return;
      this.set({ status: "reconnecting", reason });
      if (!socket.active) this.recover(this.tokenRejected ? "UNAUTHORIZED" : undefined, reason);
    });
    socket.on("connect_error", (err) => {
      if (this.closed) return;
      const code = (err as Error & { data?: { code?: string } }).data?.code;
      this.set({ status: this.everOnline ? "reconnecting" : "connecting", reason: code ?? err.message });
      if (!socket.active) this.recover(code, err.message);
    });
    socket.io.on("reconnect_failed", () => {
      if (!this.closed) this.set({ status: "offline", reason: "reconnect_failed" });
    });
  }

  get state(): ConnectionState {
    return this.current;
  }

  connect(): void {
    if (!this.closed) return;
    this.closed = false;
    this.set({ status: this.everOnline ? "reconnecting" : "connecting" });
    this.socket.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
    this.set({ status: "offline", reason: "closed" });
  }

  private recover(code: string | undefined, reason: string): void {
    if (code === "UNAUTHORIZED") {
      this.tokenRejected = false;
      const refresh = this.options.refreshToken;
      // One refresh per failed handshake run: a fresh token refused again is final.
      if (!refresh || !("token" in this.auth) || this.refreshedSinceOnline) return this.set({ status: "offline", reason: code });
      this.refreshedSinceOnline = true;
      refresh().then(
        (token) => {
          if (this.closed) return;
          this.auth = { ...this.auth, token };
          this.socket.connect();
        },
        () => this.set({ status: "offline", reason: "token refresh failed" }),
      );
      return;
    }
    if (code !== undefined && !RETRY_LATER.has(code)) return this.set({ status: "offline", reason: code });
    // The edge is full, or it cut this socket on purpose (shutting down, a slow reader): try again later.
    this.set({ status: this.everOnline ? "reconnecting" : "connecting", reason: code ?? reason });
    this.retryTimer = setTimeout(() => {
      if (!this.closed) this.socket.connect();
    }, backoffDelay(this.retries++, 1000));
  }

  private set(state: ConnectionState): void {
    if (state.status === this.current.status && state.reason === this.current.reason) return;
    this.current = state;
    this.hooks.state(state);
  }
}
