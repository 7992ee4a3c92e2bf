/* Small helpers shared by the players (review room, cut editor). */

// play() returns a promise that rejects when a pause() or a new src interrupts it; that is
// expected while stepping through a cut, so only other failures are worth reporting.
export function playQuietly(media) {
  const started = media.play();
  if (started) started.catch(function (error) { if (error.name !== "AbortError") console.warn(error); });
}
