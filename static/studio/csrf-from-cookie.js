// The board page is cached and sent gzipped with a placeholder where its CSRF token goes, so one
// compressed copy serves every browser of a person (studio/views/board.py). This classic script,
// the page's first, puts this browser's CSRF cookie in the placeholder's place before htmx and
// the modules run: in the meta tag http.js reads, in the body's hx-headers and in hidden inputs.
// Django accepts the cookie's value as the token. On any other page it finds nothing to do.
(function fillCsrfToken() {
  "use strict";
  var PLACEHOLDER = "csrf-token-placeholder-0d5c2b7e";
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (!match) return; // cookies off: the server's 403 says so on the first post
  var token = decodeURIComponent(match[1]);
  var meta = document.querySelector('meta[name="csrf-token"][content="' + PLACEHOLDER + '"]');
  if (meta) meta.setAttribute("content", token);
  var marked = document.querySelectorAll('[hx-headers*="' + PLACEHOLDER + '"]');
  for (var i = 0; i < marked.length; i++) {
    marked[i].setAttribute("hx-headers", marked[i].getAttribute("hx-headers").split(PLACEHOLDER).join(token));
  }
  var inputs = document.querySelectorAll('input[name="csrfmiddlewaretoken"][value="' + PLACEHOLDER + '"]');
  for (var j = 0; j < inputs.length; j++) inputs[j].value = token;
})();
