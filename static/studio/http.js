/* Talking to the studio from scripts: the CSRF token Django put in the page, and a same-origin
   POST that carries it (htmx requests get the same header from <body hx-headers>). */

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Views answer HX-Request posts with a fragment, the same as they answer htmx.
export function postForm(url, body) {
  return fetch(url, {
    method: "POST", body: body, credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
  });
}
