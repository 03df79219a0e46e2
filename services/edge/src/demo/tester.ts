/**
 * The /demo/tester page: a tiny client of the real protocol (socket.io-client, served by the edge
 * itself) for a frontend developer to watch connect, join, send, ACKs, incoming messages
 * and receipts live. Everything shown is inserted as text, never as HTML.
 */
export const TESTER_PAGE = `<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RedUP Chat · demo</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; max-width: 60rem; color: #1d2433; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  fieldset { border: 1px solid #ccd3e0; border-radius: 6px; margin: 0 0 1rem; padding: .6rem .8rem; }
  legend { font-weight: 600; }
  input, select, button { font: inherit; padding: .25rem .4rem; margin: .15rem .2rem .15rem 0; }
  #status { font-weight: 600; }
  .cols { display: grid; grid-template-columns: repeat(3, 1fr); gap: .8rem; }
  ol { margin: 0; padding-left: 1.2rem; max-height: 20rem; overflow: auto; font-size: 12.5px; }
  li { margin-bottom: .3rem; word-break: break-word; }
  #errors li { color: #a0182b; }
</style>
</head>
<body>
<h1>RedUP Chat · demo del protocolo Socket.IO</h1>
<fieldset>
  <legend>Conexión</legend>
  <label>user_id <input id="user" size="8" value="123"></label>
  <button id="connect">Conectar</button>
  <button id="disconnect" disabled>Desconectar</button>
  <span id="status">desconectado</span>
</fieldset>
<fieldset>
  <legend>Grupo</legend>
  <label>group_id <input id="group" size="8" value="456"></label>
  <button id="join" disabled>join_group</button>
</fieldset>
<fieldset>
  <legend>Enviar</legend>
  <select id="type"><option value="directo">directo</option><option value="grupal">grupal</option></select>
  <label>to <input id="to" size="8" value="789"></label>
  <select id="message_type"><option>texto</option><option>imagen</option><option>archivo</option><option>audio</option></select>
  <input id="text" size="30" placeholder="mensaje">
  <input id="url" size="24" placeholder="url_archivo (opcional)">
  <button id="send" disabled>send_message</button>
  <label><input id="autoack" type="checkbox" checked> mark_delivered al recibir</label>
</fieldset>
<div class="cols">
  <section><h2>ACKs</h2><ol id="acks"></ol></section>
  <section><h2>Recibidos</h2><ol id="incoming"></ol></section>
  <section><h2>Confirmaciones y errores</h2><ol id="receipts"></ol><ol id="errors"></ol></section>
</div>
<script src="/socket.io/socket.io.js"></script>
<script>
  const $ = (id) => document.getElementById(id);
  let socket = null;
  const add = (list, text) => { const li = document.createElement("li"); li.textContent = text; $(list).prepend(li); };
  const setConnected = (on) => { for (const id of ["join", "send", "disconnect"]) $(id).disabled = !on; $("connect").disabled = on; };
  $("connect").onclick = () => {
    socket = io({ query: { user_id: $("user").value.trim() }, transports: ["websocket", "polling"] });
    socket.on("connected", (d) => { $("status").textContent = "conectado como " + d.user_id; setConnected(true); });
    socket.on("connect_error", (e) => { $("status").textContent = "rechazado: " + e.message; socket.close(); setConnected(false); });
    socket.on("disconnect", () => { $("status").textContent = "desconectado"; setConnected(false); });
    socket.on("ack", (a) => add("acks", (a.saved_to_db ? "guardado #" + a.mensaje_id : "no guardado") + " → " + a.to + " (" + a.type + ")"));
    socket.on("receive_message", (m) => {
      add("incoming", m.from + " → " + m.to + " [" + m.type + "/" + m.message_type + "] " + m.message + (m.url_archivo ? " " + m.url_archivo : "") + (m.mensaje_id ? " #" + m.mensaje_id : ""));
      if ($("autoack").checked && m.mensaje_id) socket.emit("mark_delivered", { mensaje_id: m.mensaje_id, user_id: $("user").value.trim() });
    });
    socket.on("group_joined", (g) => add("receipts", "unido al grupo " + g.group_id));
    socket.on("message_delivered", (r) => add("receipts", "#" + r.mensaje_id + " entregado a " + r.user_id));
    socket.on("message_read", (r) => add("receipts", "#" + r.mensaje_id + " leído por " + r.user_id));
    socket.on("error", (e) => add("errors", e.event + ": " + e.code + " — " + e.message));
  };
  $("disconnect").onclick = () => socket && socket.close();
  $("join").onclick = () => socket.emit("join_group", { group_id: $("group").value.trim() });
  $("send").onclick = () => {
    const payload = { to: $("to").value.trim(), message: $("text").value, sender_id: $("user").value.trim(),
      timestamp: new Date().toISOString(), type: $("type").value, message_type: $("message_type").value };
    if ($("url").value.trim()) payload.url_archivo = $("url").value.trim();
    socket.emit("send_message", payload);
    $("text").value = "";
  };
</script>
</body>
</html>
`;
