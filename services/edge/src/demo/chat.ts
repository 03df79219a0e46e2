/**
 * The /demo page: a small real chat on @redup/client. This is only its shell and styles; the
 * behaviour is the browser bundle served at /demo/chat.js (built from services/edge/demo by
 * `npm run build`), which fills these elements. Text from users is always inserted as text.
 */
export const CHAT_PAGE = `<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RedUP Chat</title>
<style>
  * { box-sizing: border-box; }
  html, body { height: 100%; margin: 0; }
  body { font: 14px/1.4 system-ui, sans-serif; color: #1d2433; background: #eef1f6; }
  button, input, select { font: inherit; }
  button { cursor: pointer; border: 0; border-radius: 6px; background: #2f6fde; color: #fff; padding: .45rem .8rem; }
  button:disabled { background: #9aa7bd; cursor: default; }
  input, select { border: 1px solid #c6cedb; border-radius: 6px; padding: .4rem .5rem; background: #fff; }
  #login { max-width: 22rem; margin: 15vh auto; background: #fff; padding: 1.5rem; border-radius: 10px; box-shadow: 0 2px 10px #0001; }
  #login h1 { margin: 0 0 1rem; font-size: 1.3rem; }
  #login form { display: flex; gap: .5rem; }
  #login input { flex: 1; }
  #login p { color: #5b6478; font-size: 12.5px; }
  #app { display: none; height: 100%; flex-direction: column; }
  #app.on { display: flex; }
  header { display: flex; align-items: center; gap: 1rem; padding: .5rem 1rem; background: #1d2433; color: #fff; }
  header strong { font-size: 1.05rem; }
  header a { color: #b9c6e4; margin-left: auto; font-size: 12.5px; }
  #banner { display: none; padding: .4rem 1rem; background: #ffe08a; color: #5a4500; font-weight: 600; }
  #banner.on { display: block; }
  main { flex: 1; display: grid; grid-template-columns: 19rem 1fr; min-height: 0; }
  #side { background: #fff; border-right: 1px solid #d8deea; display: flex; flex-direction: column; min-height: 0; }
  #start { display: flex; gap: .3rem; padding: .6rem; border-bottom: 1px solid #e3e8f1; }
  #start input { width: 5.5rem; flex: 1; }
  #inbox { list-style: none; margin: 0; padding: 0; overflow: auto; flex: 1; }
  #inbox li { display: grid; grid-template-columns: 1fr auto; gap: .1rem .5rem; padding: .6rem .8rem; border-bottom: 1px solid #eef1f6; cursor: pointer; }
  #inbox li:hover { background: #f4f7fc; }
  #inbox li.open { background: #e4edfc; }
  #inbox .name { font-weight: 600; }
  #inbox .when { color: #7a8398; font-size: 12px; }
  #inbox .preview { color: #5b6478; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  #inbox .badge { background: #2f6fde; color: #fff; border-radius: 999px; padding: 0 .45rem; font-size: 12px; font-weight: 600; justify-self: end; }
  #inbox .badge:empty { display: none; }
  #conversation { display: flex; flex-direction: column; min-height: 0; }
  #empty { margin: auto; color: #7a8398; }
  #chat { display: none; flex: 1; flex-direction: column; min-height: 0; }
  #chat.on { display: flex; }
  #chat-head { padding: .6rem 1rem; background: #fff; border-bottom: 1px solid #d8deea; }
  #title { font-weight: 600; }
  #presence { color: #7a8398; font-size: 12.5px; margin-left: .5rem; }
  #presence.online { color: #1a8a3a; }
  #messages { flex: 1; overflow: auto; padding: 1rem; display: flex; flex-direction: column; gap: .35rem; }
  #older { align-self: center; color: #7a8398; font-size: 12px; }
  .bubble { max-width: 70%; padding: .4rem .6rem; border-radius: 10px; background: #fff; box-shadow: 0 1px 1px #0001; align-self: flex-start; white-space: pre-wrap; word-break: break-word; }
  .bubble.mine { align-self: flex-end; background: #d7f5d0; }
  .bubble .from { display: block; font-size: 12px; font-weight: 600; color: #2f6fde; }
  .bubble .meta { float: right; margin: .35rem 0 0 .6rem; font-size: 11px; color: #7a8398; }
  .ticks { margin-left: .25rem; letter-spacing: -.2em; }
  .ticks.read { color: #2f8ff0; }
  .text.deleted { color: #7a8398; font-style: italic; }
  #typing { min-height: 1.4rem; padding: 0 1rem; color: #5b6478; font-style: italic; font-size: 12.5px; }
  #compose { display: flex; gap: .5rem; padding: .6rem 1rem; background: #fff; border-top: 1px solid #d8deea; }
  #compose input { flex: 1; }
</style>
</head>
<body>
<section id="login">
  <h1>RedUP Chat</h1>
  <form id="login-form">
    <input id="user" inputmode="numeric" placeholder="tu user_id, p. ej. 123" required>
    <button id="enter">Entrar</button>
  </form>
  <p>Sin tokens: el servidor de desarrollo cree el user_id que le des. Abre otra pestaña con otro id para hablar contigo mismo. El probador del protocolo está en <a href="/demo/tester">/demo/tester</a>.</p>
</section>
<div id="app">
  <header><strong>RedUP Chat</strong><span id="me"></span><a href="/demo/tester">probador del protocolo</a></header>
  <div id="banner" role="status"></div>
  <main>
    <aside id="side">
      <form id="start">
        <select id="start-type"><option value="directo">usuario</option><option value="grupal">grupo</option></select>
        <input id="start-id" inputmode="numeric" placeholder="id" required>
        <button id="start-open">Abrir</button>
      </form>
      <ul id="inbox"></ul>
    </aside>
    <section id="conversation">
      <p id="empty">Elige una conversación, o abre una con un usuario o un grupo.</p>
      <div id="chat">
        <div id="chat-head"><span id="title"></span><span id="presence"></span></div>
        <div id="messages"></div>
        <div id="typing"></div>
        <form id="compose">
          <input id="text" placeholder="Escribe un mensaje" autocomplete="off">
          <button id="send">Enviar</button>
        </form>
      </div>
    </section>
  </main>
</div>
<script type="module" src="/demo/chat.js"></script>
</body>
</html>
`;
