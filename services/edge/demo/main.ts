/**
 * The /demo chat's entry: sign in with a user id (or ?user=123), then wire the client's
 * events to the inbox, the open conversation and the connection banner.
 */
import { createChatClient, localStorageOutbox, type ConnectionState } from "@redup/client";
import { createConversation } from "./conversation.js";
import { $ } from "./dom.js";
import { createInbox } from "./inbox.js";

function bannerText(state: ConnectionState): string {
  const why = state.reason ? ` (${state.reason})` : "";
  switch (state.status) {
    case "online":
      return "";
    case "connecting":
      return "Conectando…";
    case "reconnecting":
      return `Sin conexión con el servidor: reconectando…${why}. Lo que envíes saldrá al volver.`;
    case "offline":
      return `Desconectado${why}.`;
  }
}

function start(me: string) {
  $("login").style.display = "none";
  $("app").classList.add("on");
  $("me").textContent = `conectado como ${me}`;
  history.replaceState(null, "", `?user=${encodeURIComponent(me)}`);

  // The outbox survives a reload of the page: what was written offline still goes out, once.
  // One per user, since tabs of several users share this origin's storage.
  const client = createChatClient({ url: location.origin, auth: { user_id: me }, autoMarkDelivered: true, outbox: localStorageOutbox(`redup.demo.outbox.${me}`) });
  // Clicking a room opens it; the conversation is created just below, before any click.
  const inbox = createInbox($("inbox"), me, (room) => void conversation.open(room));
  const conversation = createConversation(client, me, inbox);

  let wasOnline = false;
  const reload = () => client.conversations({ limit: 50 }).then((reply) => inbox.load(reply), () => undefined);
  client.on("state", (state) => {
    const banner = $("banner");
    banner.textContent = bannerText(state);
    banner.classList.toggle("on", state.status !== "online");
    banner.dataset["status"] = state.status;
    // The inbox is reloaded on every (re)connect: unread counts may have moved meanwhile.
    if (state.status === "online") void reload();
    if (state.status === "online" && wasOnline) void conversation.resume().catch(() => undefined);
    if (state.status !== "online") conversation.suspend();
    wasOnline ||= state.status === "online";
  });
  client.on("message", (m) => inbox.message(m, conversation.message(m)));
  client.on("readMarker", (marker) => inbox.readMarker(marker));
  client.on("delivered", (event) => conversation.receipt("delivered", event));
  client.on("read", (event) => conversation.receipt("read", event));
  client.on("typing", (event) => conversation.typing(event));
  client.on("presence", (p) => conversation.presence(p));
  client.on("sent", ({ entry, stored }) => conversation.sent(entry, stored));
  client.on("failed", ({ entry, error }) => conversation.failed(entry, error));
  client.on("updated", (event) => conversation.changed(event));
  client.on("removed", (event) => conversation.changed(event));
  // Away longer than the server's change feed reaches back: start again from the server's view.
  client.on("resync", () => {
    void reload();
    void conversation.resume().catch(() => undefined);
  });

  $<HTMLFormElement>("start").addEventListener("submit", (event) => {
    event.preventDefault();
    const type = $<HTMLSelectElement>("start-type").value === "grupal" ? "grupal" : "directo";
    const to = $<HTMLInputElement>("start-id").value.trim();
    if (!to) return;
    $<HTMLInputElement>("start-id").value = "";
    const joined = type === "grupal" ? client.joinGroup(to).then(() => undefined) : Promise.resolve();
    joined.then(() => conversation.open(inbox.ensure({ type, to })), () => undefined);
  });

  client.connect();
}

const asked = new URLSearchParams(location.search).get("user");
if (asked) start(asked);
$<HTMLFormElement>("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const me = $<HTMLInputElement>("user").value.trim();
  if (me) start(me);
});
