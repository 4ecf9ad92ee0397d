// lensscan inspect: keyboard grading. Every change is a POST with the session token and a
// request id; a grade counts as saved only when the server acknowledges it (retried, with
// the same id, while the server is unreachable).
"use strict";
(function () {
  const body = document.body;
  const token = document.querySelector('meta[name="lensscan-token"]').content;
  const rank = Number(body.dataset.rank);
  const top = Number(body.dataset.top);
  const stretch = body.dataset.stretch;
  const stretches = body.dataset.stretches.split(",");
  const bands = body.dataset.bands.split(",");
  const version = body.dataset.version;
  const status = document.getElementById("status");
  const comment = document.getElementById("comment");
  const MAX_TRIES = 30;
  const RETRY_MS = 1000;
  const PRELOAD_AHEAD = 3;
  const GRADE_NAMES = ["not a lens", "possible", "probable", "definite"];
  let busy = false;
  // Once the page is leaving, keys would act on the candidate the grader no longer sees.
  let leaving = false;

  function requestId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function show(text, kind) {
    status.textContent = text;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function setProgress(graded) {
    document.getElementById("graded").textContent = String(graded);
    document.getElementById("progress-fill").style.width = (100 * graded / top).toFixed(1) + "%";
  }

  function leave(url) {
    leaving = true;
    window.location.assign(url);
  }

  function go(target) {
    if (target >= 1 && target <= top) leave("/candidate/" + target + "?stretch=" + stretch);
  }

  function gradeText() {
    const value = body.dataset.grade;
    return value === "" ? "not graded yet" : "your grade: " + value + " (" + GRADE_NAMES[Number(value)] + ")";
  }

  async function post(path, payload) {
    payload.request_id = requestId();
    for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
      try {
        const response = await fetch(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Lensscan-Token": token },
          body: JSON.stringify(payload),
        });
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.error || response.statusText);
        return answer;
      } catch (error) {
        if (error instanceof TypeError && attempt < MAX_TRIES) {
          show("not saved yet: server unreachable, retrying (" + attempt + ")", "error");
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          continue;
        }
        show("not saved: " + error.message, "error");
        throw error;
      }
    }
    return null;
  }

  async function grade(value) {
    if (busy || leaving) return;
    busy = true;
    const button = document.querySelector('.grade[data-grade="' + value + '"]');
    button.classList.add("pending");
    try {
      const answer = await post("/api/grade", { rank: rank, grade: value });
      document.querySelectorAll(".grade").forEach((b) => b.classList.remove("current", "pending"));
      button.classList.add("current");
      body.dataset.grade = String(value);
      setProgress(answer.graded);
      show("saved · " + gradeText(), "saved");
      if (rank < top) go(rank + 1);
    } finally {
      button.classList.remove("pending");
      busy = false;
    }
  }

  async function saveComment() {
    const answer = await post("/api/comment", { rank: rank, comment: comment.value });
    show("comment saved · " + gradeText(), "saved");
    setProgress(answer.graded);
    comment.blur();
  }

  async function undo() {
    if (busy || leaving) return;
    busy = true;
    try {
      const answer = await post("/api/undo", {});
      if (answer.rank === null) {
        show("nothing to undo");
      } else if (answer.rank === rank) {
        leave(window.location.href);
      } else {
        go(answer.rank);
      }
    } finally {
      busy = false;
    }
  }

  function nextUngraded() {
    leave("/?after=" + rank + "&stretch=" + stretch);
  }

  function cycleStretch() {
    const next = stretches[(stretches.indexOf(stretch) + 1) % stretches.length];
    leave("/candidate/" + rank + "?stretch=" + next);
  }

  function preload() {
    for (let ahead = 1; ahead <= PRELOAD_AHEAD && rank + ahead <= top; ahead++) {
      const next = rank + ahead;
      new Image().src = "/image/" + next + "/rgb.png?v=" + version;
      bands.forEach((band) => {
        new Image().src = "/image/" + next + "/" + band + ".png?stretch=" + stretch + "&v=" + version;
      });
    }
  }

  document.querySelectorAll(".grade").forEach((button) => {
    button.addEventListener("click", () => grade(Number(button.dataset.grade)));
  });

  comment.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      saveComment();
    } else if (event.key === "Escape") {
      comment.blur();
    }
    event.stopPropagation();
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (leaving) {
      event.preventDefault();
      return;
    }
    const key = event.key;
    if (key >= "0" && key <= "3") grade(Number(key));
    else if (key === "ArrowRight") go(rank + 1);
    else if (key === "ArrowLeft") go(rank - 1);
    else if (key === "u" || key === "Backspace") undo();
    else if (key === "c") { event.preventDefault(); comment.focus(); }
    else if (key === "s") cycleStretch();
    else if (key === "n") nextUngraded();
    else return;
    event.preventDefault();
  });

  setProgress(Number(document.getElementById("graded").textContent));
  window.addEventListener("load", preload);
})();
