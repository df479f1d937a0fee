// The dashboard's only script; every page works without it.
// 1. Canned replies: the reply picked (already filled in for the citizen) goes into the reply box, to edit and send.
// 2. Live updates: every STAFF_REFRESH_SECONDS the page asks for a small JSON "pulse" (the inbox counts; on a
//    conversation, a mark that moves when it does) and, when the conversation moved, fetches the page again and
//    swaps in the new messages. Nothing outside this site is contacted.
(function () {
  "use strict";

  var picker = document.getElementById("canned");
  var box = document.getElementById("reply-text");
  if (picker && box) {
    picker.addEventListener("change", function () {
      var option = picker.options[picker.selectedIndex];
      if (!option || !option.value) return;
      box.value = option.getAttribute("data-text") || "";
      box.focus();
      picker.selectedIndex = 0;
    });
  }

  var nav = document.getElementById("nav-inbox");
  var every = Number(document.body.getAttribute("data-refresh") || "0") * 1000;
  if (!nav || !every || !window.fetch) return;
  var chat = document.getElementById("chat");
  var list = document.getElementById("inbox-list"); // the inbox itself: its rows are fetched again when counts move
  var path = location.pathname.replace(/\/$/, "");
  var pulse = chat ? path + "/pulse" : nav.getAttribute("href") + "/pulse";
  var mark = null;
  var shown = nav.querySelectorAll(".count");
  var seen = [0, 1].map(function (i) { return shown[i] ? parseInt(shown[i].textContent, 10) || 0 : 0; }).join(":");

  function counts(waiting, mine) {
    var all = nav.querySelector(".count");
    if (all) all.textContent = String(waiting);
    var own = nav.querySelector(".count.mine");
    if (mine && !own) {
      own = document.createElement("span");
      own.className = "count mine";
      own.title = "held by you";
      nav.appendChild(document.createTextNode(" "));
      nav.appendChild(own);
    }
    if (own && !mine) own.remove();
    else if (own) own.textContent = mine + " mine";
  }

  function again(then) {
    return fetch(location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) then(new DOMParser().parseFromString(html, "text/html")); });
  }

  function swapList(fresh) {
    var rows = fresh.getElementById("inbox-list");
    if (rows) list.innerHTML = rows.innerHTML;
  }

  function swap(fresh) {
    var messages = fresh.getElementById("chat");
    if (messages) chat.innerHTML = messages.innerHTML;
    var state = document.getElementById("handover-state");
    var freshState = fresh.getElementById("handover-state");
    if (state && freshState) state.innerHTML = freshState.innerHTML;
  }

  function tick() {
    fetch(pulse, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (response) {
        if (response.redirected || response.status === 403) every = 0; // signed out: stop asking
        return response.ok && !response.redirected ? response.json() : null;
      })
      .then(function (data) {
        if (!data) return null;
        counts(data.inbox[0], data.inbox[1]);
        var now = data.inbox.join(":");
        if (list && now !== seen) {
          seen = now;
          return again(swapList);
        }
        seen = now;
        if (!chat || data.mark === mark) return null;
        mark = data.mark; // the first poll fetches once too: a message may have come since the page was made
        return again(swap);
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .then(function () { if (every) window.setTimeout(tick, every); });
  }

  window.setTimeout(tick, every);
})();
