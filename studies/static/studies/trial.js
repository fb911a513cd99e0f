// One ACR trial: load the whole video, play it once at native size, unlock the
// scale at the end, post the vote (retrying on network errors), go on.
(() => {
  const config = JSON.parse(document.getElementById("trial-config").textContent);
  const video = document.getElementById("stimulus");
  const play = document.getElementById("play");
  const replay = document.getElementById("replay");
  const loading = document.getElementById("loading");
  const percent = document.getElementById("loading-percent");
  const status = document.getElementById("vote-status");
  const buttons = Array.from(document.querySelectorAll("button.rate"));
  const watch = {seconds: 0, startedAt: null, stalls: 0, stallSeconds: 0, stallStartedAt: null, replays: 0};

  // Native size: one video pixel on one device pixel.
  const cssSize = config.video_size / (window.devicePixelRatio || 1);
  video.style.width = video.style.height = `${cssSize}px`;

  // The whole file is in memory before playback, so no network stall can be
  // mistaken for a codec artefact.
  async function loadWhole(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`the video could not be loaded (HTTP ${response.status})`);
    const total = Number(response.headers.get("Content-Length")) || 0;
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      if (total) percent.textContent = `${Math.round(100 * received / total)} %`;
    }
    return new Blob(chunks, {type: "video/mp4"});
  }

  function start() {
    watch.startedAt = performance.now();
    play.hidden = true;
    replay.hidden = true;
    video.play();
  }

  video.addEventListener("waiting", () => {
    if (watch.startedAt !== null && watch.stallStartedAt === null) {
      watch.stalls += 1;
      watch.stallStartedAt = performance.now();
    }
  });
  video.addEventListener("playing", () => {
    if (watch.stallStartedAt !== null) {
      watch.stallSeconds += (performance.now() - watch.stallStartedAt) / 1000;
      watch.stallStartedAt = null;
    }
  });
  video.addEventListener("ended", () => {
    watch.seconds += (performance.now() - watch.startedAt) / 1000;
    buttons.forEach(b => { b.disabled = false; });
    if (watch.replays < config.replays_allowed) replay.hidden = false;
    status.textContent = "Choose a rating.";
  });
  play.addEventListener("click", start);
  replay.addEventListener("click", () => { watch.replays += 1; video.currentTime = 0; start(); });

  // Network errors and server errors (a 503 while the database restarts) are
  // retried with the same payload, backing off for about a minute in all (the
  // server stores a vote once); a refusal (4xx) is final.
  const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000];
  async function post(payload) {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(config.vote_url, {
          method: "POST",
          headers: {"Content-Type": "application/json"},
          body: JSON.stringify(payload),
        });
        if (response.ok) return response.json();
        const error = new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
        error.final = response.status < 500;
        throw error;
      } catch (error) {
        if (error.final || attempt >= RETRY_DELAYS_MS.length) throw error;
        status.textContent = `Saving your vote failed (${error.message}); retrying…`;
        await new Promise(resolve => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
      }
    }
  }

  buttons.forEach(button => button.addEventListener("click", async () => {
    buttons.forEach(b => { b.disabled = true; });
    button.classList.add("chosen");
    status.textContent = "Saving…";
    try {
      const stored = await post({
        position: config.position, score: Number(button.dataset.score), watch_seconds: watch.seconds,
        stall_count: watch.stalls, stall_seconds: watch.stallSeconds, replays: watch.replays,
      });
      window.location.assign(stored.next);
    } catch (error) {
      status.textContent = `Your vote could not be saved: ${error.message}. Reload the page to try again.`;
      buttons.forEach(b => { b.disabled = false; });
    }
  }));

  loadWhole(config.media_url).then(blob => {
    video.src = URL.createObjectURL(blob);
    video.addEventListener("canplaythrough", () => {
      loading.hidden = true;
      video.hidden = false;
      play.hidden = false;
      play.disabled = false;
    }, {once: true});
  }).catch(error => { loading.textContent = `${error.message}. Reload the page to try again.`; });
})();
