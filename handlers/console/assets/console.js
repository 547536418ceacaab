// switchboard console: the live view. It replaces the list of calls in
// progress with a fresh one from the server every few seconds, without
// reloading the page. Every other page works without this script.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-live");
  var status = document.getElementById("live-status");
  var every = 2000;

  function count() {
    var el = box.querySelector("[data-count]");
    return el ? el.textContent : "";
  }

  function refresh() {
    if (document.hidden) {
      setTimeout(refresh, every);
      return;
    }
    fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual" })
      .then(function (r) {
        if (r.status === 401 || r.type === "opaqueredirect") {
          // Signed out, or the session expired: show the sign-in page.
          window.location.reload();
          return null;
        }
        if (!r.ok) {
          throw new Error("live view: " + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        // Keep the keyboard where it was: the link that had the focus is
        // focused again in the new list, if it is still there.
        var focused = box.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
        var before = count();
        box.innerHTML = html;
        if (focused) {
          var again = box.querySelector('a[href="' + CSS.escape(focused) + '"]');
          if (again) {
            again.focus();
          }
        }
        if (status && count() !== before) {
          status.textContent = count();
        }
      })
      .catch(function () {
        // Keep the last list and try again.
      })
      .finally(function () {
        setTimeout(refresh, every);
      });
  }
  setTimeout(refresh, every);
})();
