// Buy button: posts {"quantity":N} as JSON with the browser's cookies (the
// admission pass cookie wr_pass_<room> rides along) and shows the result.
(function () {
  "use strict";
  var msgs = JSON.parse(document.getElementById("messages").textContent);

  // Show start times in the visitor's own time zone and language.
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = d.toLocaleString(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" });
  });

  var form = document.getElementById("buy");
  if (!form) return;
  var article = form.closest("[data-event]");
  var id = article.getAttribute("data-event");
  var out = document.getElementById("result");
  var button = form.querySelector("button");

  function say(key, vars, cls) {
    var m = msgs[key] || msgs.error;
    Object.keys(vars || {}).forEach(function (k) { m = m.split("{" + k + "}").join(vars[k]); });
    out.textContent = m;
    out.className = cls || "";
  }

  // showStock puts the stock left on the page; at zero the button says
  // "Sold out" and stays off.
  function showStock(n) {
    document.getElementById("remaining").textContent = n;
    if (n === 0) {
      button.textContent = button.getAttribute("data-sold-out");
      button.disabled = true;
    }
  }

  // refreshStock asks the API when an answer carried no stock figure. After
  // a successful order it must not: the order ends the admission, so behind
  // the gateway this request would be queued (429), not answered.
  function refreshStock() {
    fetch("/api/events/" + id, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (e) { if (e && typeof e.remaining === "number") showStock(e.remaining); })
      .catch(function () {});
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    button.disabled = true;
    say("pending");
    var quantity = parseInt(form.elements.quantity.value, 10);
    fetch("/api/events/" + id + "/orders", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ quantity: quantity })
    }).then(function (r) {
      return r.json().catch(function () { return { error: "HTTP " + r.status }; }).then(function (body) {
        // A created order and a sold-out refusal both say how many are left.
        if (typeof body.remaining === "number") showStock(body.remaining);
        else refreshStock();
        if (r.status === 201) {
          say("created", { quantity: body.quantity, order_id: body.order_id }, "ok");
          return;
        }
        if (r.status === 429 || r.status >= 500) { say("busy", null, "err"); button.disabled = false; return; }
        var known = msgs[body.error] ? body.error : "error";
        say(known, { error: body.error || ("HTTP " + r.status) }, "err");
        // Not enough left for this many: fewer may still be bought.
        if (body.error === "sold_out" ? body.remaining > 0 : body.error !== "pass_used") button.disabled = false;
      });
    }).catch(function () {
      say("busy", null, "err");
      button.disabled = false;
    });
  });
})();
