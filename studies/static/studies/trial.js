// One trial: load every video of it whole, play them once at native size (a
// pair one after the other with a mid-grey gap, or side by side), unlock the
// scales at the end, post the answers (retrying on network errors), go on.
(() => {
  const config = JSON.parse(document.getElementById("trial-config").textContent);
  const videos = ["stimulus", "stimulus-2"].slice(0, config.media_urls.length).map(id => document.getElementById(id));
  const screens = videos.map((_, i) => document.getElementById(`screen-${i + 1}`));
  const gap = document.getElementById("gap");
  const play = document.getElementById("play");
  const replay = document.getElementById("replay");
  const loading = document.getElementById("loading");
  const percent = document.getElementById("loading-percent");
  const status = document.getElementById("vote-status");
  const submit = document.getElementById("submit");
  const buttons = Array.from(document.querySelectorAll("button.rate"));
  const answers = {};
  const watch = {seconds: 0, startedAt: null, stalls: 0, stallSeconds: 0, stallStartedAt: null, replays: 0};
  const sequential = videos.length > 1 && !config.side_by_side;

  // Native size: one video pixel on one device pixel; the grey gap takes the same place.
  const cssSize = `${config.video_size / (window.devicePixelRatio || 1)}px`;
  for (const element of [...videos, gap].filter(Boolean)) element.style.width = element.style.height = cssSize;

  // Every file is in memory before playback, so no network stall can be
  // mistaken for a codec artefact.
  const received = videos.map(() => 0);
  const totals = videos.map(() => 0);
  async function loadWhole(url, index) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`a video could not be loaded (HTTP ${response.status})`);
    totals[index] = Number(response.headers.get("Content-Length")) || 0;
    const reader = response.body.getReader();
    const chunks = [];
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      chunks.push(value);
      received[index] += value.length;
      const total = totals.reduce((a, b) => a + b, 0);
      if (total) percent.textContent = `${Math.round(100 * received.reduce((a, b) => a + b, 0) / total)} %`;
    }
    return new Blob(chunks, {type: "video/mp4"});
  }

  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const ended = video => new Promise(resolve => video.addEventListener("ended", resolve, {once: true}));

  function show(index) {
    screens.forEach((screen, i) => { screen.hidden = sequential && i !== index; });
    if (gap) gap.hidden = true;
  }

  async function playOnce() {
    play.hidden = true;
    replay.hidden = true;
    watch.startedAt = performance.now();
    if (sequential) {
      show(0);
      videos[0].currentTime = 0;
      const first = ended(videos[0]);
      videos[0].play();
      await first;
      screens[0].hidden = true;
      gap.hidden = false;
      await sleep(config.gap_ms);
      show(1);
      videos[1].currentTime = 0;
      const second = ended(videos[1]);
      videos[1].play();
      await second;
    } else {
      const all = videos.map(ended);
      videos.forEach(video => { video.currentTime = 0; video.play(); });
      await Promise.all(all);
    }
    watch.seconds += (performance.now() - watch.startedAt) / 1000;
    buttons.forEach(b => { b.disabled = false; });
    if (watch.replays < config.replays_allowed) replay.hidden = false;
    status.textContent = config.dimensions.length > 1 ? "Answer every question, then submit." : "Choose a rating.";
  }

  videos.forEach(video => {
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
  });
  play.addEventListener("click", playOnce);
  replay.addEventListener("click", () => { watch.replays += 1; playOnce(); });

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

  async function send() {
    buttons.forEach(b => { b.disabled = true; });
    if (submit) submit.disabled = true;
    status.textContent = "Saving…";
    try {
      const stored = await post({
        position: config.position, scores: answers, watch_seconds: watch.seconds,
        stall_count: watch.stalls, stall_seconds: watch.stallSeconds, replays: watch.replays,
      });
      window.location.assign(stored.next);
    } catch (error) {
      status.textContent = `Your vote could not be saved: ${error.message}. Reload the page to try again.`;
      buttons.forEach(b => { b.disabled = false; });
      if (submit) submit.disabled = false;
    }
  }

  // One question: its answer is the vote. Several: each is chosen, then submitted.
  buttons.forEach(button => button.addEventListener("click", () => {
    const dimension = button.dataset.dimension;
    answers[dimension] = Number(button.dataset.score);
    buttons.filter(b => b.dataset.dimension === dimension).forEach(b => b.classList.toggle("chosen", b === button));
    if (!submit) { send(); return; }
    submit.disabled = !config.dimensions.every(key => key in answers);
  }));
  if (submit) submit.addEventListener("click", send);

  Promise.all(config.media_urls.map(loadWhole)).then(blobs => {
    const ready = videos.map((video, i) => new Promise(resolve => {
      video.addEventListener("canplaythrough", resolve, {once: true});
      video.src = URL.createObjectURL(blobs[i]);
    }));
    return Promise.all(ready);
  }).then(() => {
    loading.hidden = true;
    show(0);
    if (!sequential) screens.forEach(screen => { screen.hidden = false; });
    play.hidden = false;
    play.disabled = false;
  }).catch(error => { loading.textContent = `${error.message}. Reload the page to try again.`; });
})();
