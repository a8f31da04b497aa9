/* Parts of a page that refresh themselves, without a front-end build or inline code (CSP).

   An element with data-live-url="URL" and data-live-every="SECONDS" asks for URL every so
   many seconds. The answer is HTML holding elements with ids; each one whose id is on the
   page replaces the contents of that element, only if they changed (CSRF tokens aside), so
   a button does not vanish under the pointer every few seconds; open <details> stay open.
   A region that should be read out when it changes carries aria-live itself (it is kept;
   only its contents change).
   Polling stops while the tab is hidden, backs off on errors and stops for good if the
   session has ended (the answer is the sign-in page). Without JavaScript, pages still work:
   reload to see changes. */
(function () {
  "use strict";

  function comparable(element) {
    var copy = element.cloneNode(true);
    copy.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
      input.removeAttribute("value");
    });
    copy.querySelectorAll("details").forEach(function (details) { details.removeAttribute("open"); });
    return copy.innerHTML.trim();
  }

  function focusPath(region) {
    var active = document.activeElement;
    if (!active || active === document.body || !region.contains(active)) { return null; }
    var focusable = region.querySelectorAll("a[href], button, input, select, textarea, [tabindex]");
    return Array.prototype.indexOf.call(focusable, active);
  }

  function restoreFocus(region, index) {
    if (index === null || index < 0) { return; }
    var focusable = region.querySelectorAll("a[href], button, input, select, textarea, [tabindex]");
    var target = focusable[Math.min(index, focusable.length - 1)];
    if (target) { target.focus({ preventScroll: true }); }
  }

  function apply(html) {
    var answer = new DOMParser().parseFromString(html, "text/html");
    answer.querySelectorAll("[id]").forEach(function (fresh) {
      var region = document.getElementById(fresh.id);
      if (!region) { return; }
      if (region.className === fresh.className && comparable(region) === comparable(fresh)) { return; }
      var index = focusPath(region);
      var open = Array.prototype.map.call(region.querySelectorAll("details[open][id]"), function (d) { return d.id; });
      region.className = fresh.className;
      region.innerHTML = fresh.innerHTML;
      open.forEach(function (id) {
        var details = document.getElementById(id);
        if (details) { details.open = true; }
      });
      restoreFocus(region, index);
    });
  }

  function poll(source) {
    var url = source.getAttribute("data-live-url");
    var every = Math.max(2, parseFloat(source.getAttribute("data-live-every") || "5")) * 1000;
    var delay = every;
    var timer = null;

    function schedule(ms) {
      clearTimeout(timer);
      timer = setTimeout(tick, ms);
    }

    function tick() {
      if (document.hidden) { return; }  // resumed by visibilitychange
      fetch(url, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" }, cache: "no-store" })
        .then(function (response) {
          if (response.redirected && /\/login\//.test(response.url)) { throw "signed-out"; }
          if (!response.ok) { throw response.status; }
          return response.text();
        })
        .then(function (html) {
          apply(html);
          delay = every;
          schedule(delay);
        })
        .catch(function (reason) {
          if (reason === "signed-out") { return; }
          delay = Math.min(delay * 2, 60000);
          schedule(delay);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { schedule(0); }
    });
    schedule(every);
  }

  document.querySelectorAll("[data-live-url]").forEach(poll);
})();
