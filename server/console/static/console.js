// Greenroom console: follow a log as it is written (<pre data-follow="url">). The server streams
// the log until the run ends (it is woken by the worker's commits, never polls), so this reads
// chunks and appends them; it keeps the view at the bottom unless the reader scrolled up.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("pre[data-follow]").forEach(async function (pre) {
    const response = await fetch(pre.dataset.follow, { credentials: "same-origin" });
    if (!response.ok || !response.body) { pre.textContent = "The log is not available."; return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    pre.dataset.state = "following";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(document.createTextNode(decoder.decode(value, { stream: true })));
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    pre.dataset.state = "ended";
  });
});
