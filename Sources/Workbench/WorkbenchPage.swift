// The workbench's page: plain HTML, CSS and JavaScript shipped inside the binary (no build step, nothing
// fetched from elsewhere). Served at /, /app.css and /app.js.
enum WorkbenchPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>FilmRestore workbench</title>
        <link rel="stylesheet" href="/app.css">
        <script src="/app.js" defer></script>
        </head>
        <body>
        <header><h1>FilmRestore <span>workbench</span></h1><p id="status" role="status"></p></header>
        <main>
        <section id="library-section">
          <h2>Library</h2>
          <table id="films"><thead><tr><th></th><th>Film</th><th>Size</th><th>Rate</th><th>Duration</th><th>Frames</th><th>Sound</th></tr></thead><tbody></tbody></table>
          <p id="no-films" hidden>No films under the root.</p>
        </section>
        <section id="look-section" hidden>
          <h2>Look at <span id="film-name"></span></h2>
          <div class="timeline"><label for="at">Instant</label><input type="range" id="at" min="0" max="1" step="0.04" value="0"><output id="at-text">0.00 s</output></div>
          <div class="looks">
            <div class="look" id="look-a"><h3>Look A</h3><label>Preset <select class="preset"></select></label><p class="preset-help"></p><div class="options"></div></div>
            <div class="look" id="look-b"><h3><label><input type="checkbox" id="compare"> Look B (compare)</label></h3><label>Preset <select class="preset"></select></label><p class="preset-help"></p><div class="options"></div></div>
          </div>
          <p><button id="preview">Preview</button> <span id="preview-status"></span></p>
          <div class="results"><div class="result" id="result-a"></div><div class="result" id="result-b"></div></div>
          <p class="queue-form"><label>Output name <input id="output-name" size="40"></label> <button id="queue">Queue look A for the whole film</button> <span id="queue-status"></span></p>
        </section>
        <section id="queue-section">
          <h2>Queue</h2>
          <table id="jobs"><thead><tr><th>Job</th><th>Film</th><th>Preset</th><th>State</th><th>Progress</th><th>Time left</th><th>Output</th><th></th></tr></thead><tbody></tbody></table>
        </section>
        </main>
        </body>
        </html>
        """#

    static let style = #"""
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #16181b; color: #e4e4e4; }
        header { padding: 10px 20px; background: #0e0f11; border-bottom: 1px solid #333; display: flex; align-items: baseline; gap: 24px; }
        h1 { font-size: 20px; margin: 0; } h1 span { color: #d9a441; font-weight: normal; }
        h2 { font-size: 16px; margin: 18px 0 8px; color: #d9a441; } h3 { font-size: 14px; margin: 4px 0; }
        main { padding: 0 20px 30px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #2c2f33; vertical-align: middle; }
        #films tbody tr { cursor: pointer; } #films tbody tr:hover { background: #23262a; } #films tr.selected { background: #2f3a2a; }
        img.poster { width: 96px; display: block; }
        .timeline { display: flex; gap: 10px; align-items: center; } .timeline input { flex: 1; }
        .looks, .results { display: flex; gap: 20px; } .look, .result { flex: 1; min-width: 0; }
        .look { background: #1d2024; padding: 8px 12px; border-radius: 6px; }
        .options fieldset { border: 1px solid #33373c; margin: 6px 0; } .options legend { color: #9fb7d0; }
        .options label { display: grid; grid-template-columns: 11em 1fr; gap: 6px; margin: 2px 0; align-items: center; }
        .options input, .options select { width: 100%; box-sizing: border-box; }
        .options .changed { outline: 2px solid #d9a441; }
        .preset-help { color: #9a9a9a; margin: 4px 0; }
        .wipe { position: relative; display: block; width: 100%; line-height: 0; background: #000; }
        .wipe img { width: 100%; display: block; } .wipe img.after { position: absolute; left: 0; top: 0; height: 100%; }
        .wipe .divider { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px; background: #d9a441; }
        .wipe-slider { width: 100%; }
        .result .caption { color: #bbb; } .error { color: #ff7b72; }
        progress { width: 160px; } button { padding: 4px 12px; }
        a { color: #8cc4ff; }
        """#

    static let script = #"""
        "use strict";
        // The workbench page: the library, two looks with before/after wipes, and the queue. Everything it
        // shows comes from the JSON API under /api/ (same origin; the token travels as the cookie).
        const state = { films: [], presets: [], stages: {}, film: null, sources: {} };
        const $ = (sel, el = document) => el.querySelector(sel);
        const el = (tag, props = {}, ...kids) => { const e = Object.assign(document.createElement(tag), props); kids.forEach(k => e.append(k)); return e; };

        async function api(path, options = {}) {
          const r = await fetch(path, Object.assign({ credentials: "same-origin", headers: { "Content-Type": "application/json" } }, options));
          const body = await r.json().catch(() => ({}));
          if (!r.ok) throw new Error(body.error || r.statusText);
          return body;
        }
        function clock(s) {
          if (s == null || !isFinite(s)) return "";
          s = Math.round(s); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
          return `${h}:${String(m).padStart(2, "0")}:${String(x).padStart(2, "0")}`;
        }
        function status(text, error) { const s = $("#status"); s.textContent = text; s.className = error ? "error" : ""; }

        async function loadLibrary() {
          state.films = await api("/api/films");
          const body = $("#films tbody"); body.replaceChildren();
          $("#no-films").hidden = state.films.length > 0;
          for (const f of state.films) {
            const tr = el("tr", { className: "film" });
            tr.dataset.id = f.id;
            tr.append(el("td", {}, el("img", { className: "poster", src: `/api/films/${f.id}/poster`, alt: "" })),
              el("td", { className: "path", textContent: f.path }), el("td", { textContent: `${f.width}×${f.height}` }),
              el("td", { textContent: `${f.rate.toFixed(3).replace(/\.?0+$/, "")} fps${f.variable_rate ? " (VFR)" : ""}` }),
              el("td", { textContent: f.duration != null ? `${f.duration.toFixed(2)} s` : "?" }),
              el("td", { textContent: f.frames ?? "?" }), el("td", { textContent: f.audio ? `${f.audio} stream(s)` : "none" }));
            tr.addEventListener("click", () => selectFilm(f));
            body.append(tr);
          }
        }

        function selectFilm(f) {
          state.film = f;
          document.querySelectorAll("#films tr").forEach(tr => tr.classList.toggle("selected", tr.dataset.id === f.id));
          $("#look-section").hidden = false;
          $("#film-name").textContent = f.path;
          const at = $("#at"); at.max = Math.max(0, (f.duration || 0) - 0.5).toFixed(2); at.value = 0; showAt();
          $("#output-name").value = "";
          ["a", "b"].forEach(k => $(`#result-${k}`).replaceChildren());
        }
        function showAt() { $("#at-text").textContent = `${Number($("#at").value).toFixed(2)} s`; }

        function fillPresets() {
          for (const look of ["#look-a", "#look-b"]) {
            const sel = $(".preset", $(look)); sel.replaceChildren();
            for (const p of state.presets) sel.append(el("option", { value: p.name, textContent: p.name }));
            sel.addEventListener("change", () => buildOptions(look));
            buildOptions(look);
          }
        }

        // The option form of a look: one fieldset per stage of its preset, one input per declared option.
        function buildOptions(look) {
          const root = $(look), preset = state.presets.find(p => p.name === $(".preset", root).value);
          const box = $(".options", root); box.replaceChildren();
          if (!preset) return;
          $(".preset-help", root).textContent = preset.description;
          const count = {};
          preset.stages.forEach(s => count[s.name] = (count[s.name] || 0) + 1);
          const seen = {};
          for (const use of preset.stages) {
            const spec = state.stages[use.name]; if (!spec || !spec.options.length) continue;
            seen[use.name] = (seen[use.name] || 0) + 1;
            const prefix = count[use.name] > 1 ? `${use.name}#${seen[use.name]}` : use.name;
            const fs = el("fieldset", {}, el("legend", { textContent: use.name, title: spec.summary }));
            for (const o of spec.options) {
              if (o.key === "models-dir") continue;
              const initial = use.options[o.key] ?? o.default ?? "";
              let input;
              if (o.choices) {
                input = el("select");
                if (!o.choices.includes(initial)) input.append(el("option", { value: initial, textContent: initial || "(none)" }));
                o.choices.forEach(c => input.append(el("option", { value: c, textContent: c })));
              } else if ((o.type === "number" || o.type === "integer") && o.min != null) {
                input = el("input", { type: "number", min: o.min, max: o.max, step: o.integer ? 1 : "any" });
              } else {
                input = el("input", { type: "text", placeholder: o.takes });
              }
              input.value = initial;
              input.name = `${prefix}.${o.key}`;
              input.dataset.initial = initial;
              input.title = `${o.help} (${o.takes}; default ${o.default ?? "none"})`;
              input.addEventListener("input", () => input.classList.toggle("changed", input.value !== input.dataset.initial));
              fs.append(el("label", { title: input.title }, el("span", { textContent: o.key }), input));
            }
            box.append(fs);
          }
        }

        function lookOf(look) {
          const root = $(look), set = {};
          root.querySelectorAll(".options [name]").forEach(i => { if (i.value !== i.dataset.initial) set[i.name] = i.value; });
          return { preset: $(".preset", root).value, set };
        }

        function wipe(result, caption) {
          const before = el("img", { className: "before", src: result.before, alt: "before" });
          const after = el("img", { className: "after", src: result.after, alt: "after" });
          const slider = el("input", { type: "range", className: "wipe-slider", min: 0, max: 100, value: 50 });
          const divider = el("div", { className: "divider" });
          const move = () => { after.style.clipPath = `inset(0 0 0 ${slider.value}%)`; divider.style.left = `${slider.value}%`; };
          slider.addEventListener("input", move); move();
          const projected = result.projected_seconds != null ? `, whole film about ${clock(result.projected_seconds)}` : "";
          const perFrame = result.seconds_per_frame != null ? `${result.seconds_per_frame.toFixed(2)} s per frame` : "";
          return [el("p", { className: "caption", textContent: `${caption}: before | after at ${result.at.toFixed(2)} s — ${perFrame}${projected}` }),
            el("div", { className: "wipe" }, before, after, divider), slider];
        }

        async function preview() {
          if (!state.film) return;
          const at = Number($("#at").value), looks = [["a", "#look-a"]];
          if ($("#compare").checked) looks.push(["b", "#look-b"]);
          $("#preview").disabled = true;
          try {
            for (const [k, look] of looks) {
              const target = $(`#result-${k}`);
              target.replaceChildren(el("p", { textContent: "restoring half a second…" }));
              const l = lookOf(look);
              try {
                const r = await api("/api/previews", { method: "POST", body: JSON.stringify({ film: state.film.id, preset: l.preset, set: l.set, at }) });
                target.replaceChildren(...wipe(r, `Look ${k.toUpperCase()} (${l.preset})`));
              } catch (e) { target.replaceChildren(el("p", { className: "error", textContent: e.message })); }
            }
          } finally { $("#preview").disabled = false; }
        }

        async function queue() {
          if (!state.film) return;
          const l = lookOf("#look-a"), name = $("#output-name").value.trim();
          const body = { film: state.film.id, preset: l.preset, set: l.set };
          if (name) body.output = name;
          try {
            const r = await api("/api/jobs", { method: "POST", body: JSON.stringify(body) });
            $("#queue-status").textContent = `queued as ${r.id}`; $("#queue-status").className = "";
            await loadJobs();
          } catch (e) { $("#queue-status").textContent = e.message; $("#queue-status").className = "error"; }
        }

        function jobRow(j) {
          let tr = document.getElementById(`job-${j.id}`);
          if (!tr) {
            tr = el("tr", { id: `job-${j.id}`, className: "job" });
            for (let i = 0; i < 8; i++) tr.append(el("td"));
            $("#jobs tbody").prepend(tr);
          }
          const c = tr.children, pct = j.state === "done" ? 100 : j.frames ? Math.min(100, Math.floor(100 * j.frame / j.frames)) : 0;
          c[0].textContent = j.id; c[1].textContent = j.film_path; c[2].textContent = j.preset;
          c[3].textContent = j.state + (j.error && j.state !== "cancelled" ? `: ${j.error}` : ""); c[3].className = `state ${j.state}`;
          c[4].replaceChildren(el("progress", { max: 100, value: pct }), el("span", { className: "percent", textContent: ` ${pct} %` }));
          c[5].textContent = j.state === "running" ? clock(j.eta_seconds) : "";
          c[6].replaceChildren();
          if (j.state === "done") {
            c[6].append(el("a", { href: `/files/${j.output}`, textContent: j.output.split("/").pop() }), " · ",
              el("a", { href: `/files/${j.report}`, className: "report", textContent: "report" }));
          }
          c[7].replaceChildren();
          if (j.state === "queued" || j.state === "running") {
            const b = el("button", { className: "cancel", textContent: "Cancel" });
            b.addEventListener("click", () => api(`/api/jobs/${j.id}`, { method: "DELETE" }).then(jobRow).catch(e => status(e.message, true)));
            c[7].append(b);
            follow(j.id);
          }
        }

        // Live progress: one event stream per unfinished job (server-sent events), closed when it ends.
        function follow(id) {
          if (state.sources[id]) return;
          const s = new EventSource(`/api/jobs/${id}/events`);
          state.sources[id] = s;
          s.onmessage = ev => { const j = JSON.parse(ev.data); jobRow(j); if (["done", "failed", "cancelled"].includes(j.state)) { s.close(); delete state.sources[id]; } };
          s.onerror = () => { s.close(); delete state.sources[id]; setTimeout(() => api(`/api/jobs/${id}`).then(jobRow).catch(() => {}), 2000); };
        }

        async function loadJobs() { (await api("/api/jobs")).forEach(jobRow); }

        async function start() {
          $("#at").addEventListener("input", showAt);
          $("#preview").addEventListener("click", preview);
          $("#queue").addEventListener("click", queue);
          try {
            const [presets, stages] = await Promise.all([api("/api/presets"), api("/api/stages")]);
            state.presets = presets.filter(p => !p.unavailable.length);
            stages.forEach(s => state.stages[s.name] = s);
            fillPresets();
            await loadLibrary();
            await loadJobs();
            status(`${state.films.length} film(s)`);
          } catch (e) { status(e.message, true); }
        }
        document.addEventListener("DOMContentLoaded", start);
        """#
}
