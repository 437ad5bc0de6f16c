// The monitoring pages' diagram: bpmn-js's NavigatedViewer (npm, pinned, /vendor/bpmn-js) with the instance's state
// as markers and overlays (instance page) or the heat map's colours (heat map page). The page puts what to draw in
// <script type="application/json" id="diagram-state">; nothing here talks to the server except to fetch the diagram.
(function () {
  'use strict';
  const holder = document.getElementById('diagram-state');
  const container = document.getElementById('diagram');
  if (!holder || !container || typeof BpmnJS === 'undefined') return;
  const state = JSON.parse(holder.textContent);
  const viewer = new BpmnJS({ container: container });

  function text(value) { return value === null || value === undefined ? '' : String(value); }
  function localTime(iso) {
    if (!iso) return '';
    return new Date(iso).toLocaleString('sv-SE', { timeZone: 'Europe/Stockholm', dateStyle: 'short', timeStyle: 'short' });
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 3600) return Math.round(seconds / 60) + ' min';
    if (seconds < 2 * 86400) return (seconds / 3600).toFixed(1).replace('.', ',') + ' tim';
    return (seconds / 86400).toFixed(1).replace('.', ',') + ' d';
  }
  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function drawInstance(registry, canvas, overlays) {
    Object.entries(state.elements).forEach(function ([id, e]) {
      if (!registry.get(id)) return;
      let marker = e.completed ? 'sf-completed' : null;
      if (e.waiting) marker = 'sf-waiting';
      if (e.active) marker = 'sf-active';
      if (e.overdue) marker = 'sf-overdue';
      if (e.incident) marker = 'sf-incident';
      if (marker) canvas.addMarker(id, marker);
      container.querySelector('[data-element-id="' + CSS.escape(id) + '"]')?.setAttribute('data-state', marker || '');
      if (e.completed > 1) {
        overlays.add(id, 'count', { position: { bottom: 8, right: 8 }, html: el('span', 'count-badge', '×' + e.completed) });
      }
      if (e.waiting && e.message && !e.due_at) {
        overlays.add(id, 'due', { position: { top: -18, left: 0 }, html: el('span', 'due-badge', '✉ ' + e.message) });
      }
      if ((e.waiting || e.active) && e.due_at) {
        const badge = el('span', 'due-badge' + (e.overdue ? ' late' : ''), (e.waiting ? '⏰ ' : 'frist ') + localTime(e.due_at));
        overlays.add(id, 'due', { position: { top: -18, left: 0 }, html: badge });
      }
    });
    const panel = document.getElementById('element-history');
    let selected = null;
    const pick = movePicker(canvas);
    viewer.get('eventBus').on('element.click', function (event) {
      const id = event.element.id;
      if (pick(event.element)) return;
      if (!panel || event.element.type === 'bpmn:Process' || event.element.type === 'bpmn:Collaboration') return;
      if (selected) canvas.removeMarker(selected, 'sf-selected');
      selected = id;
      canvas.addMarker(id, 'sf-selected');
      panel.replaceChildren();
      panel.appendChild(el('h3', null, text(state.names[id] || event.element.businessObject.name || id)));
      const entries = state.history[id] || [];
      if (!entries.length) { panel.appendChild(el('p', 'muted', 'Ingen historik för elementet i den här instansen.')); return; }
      const list = el('ol', 'timeline');
      entries.forEach(function (h) {
        const item = el('li');
        item.appendChild(el('time', null, localTime(h.at)));
        item.appendChild(document.createTextNode(' ' + h.kind + (h.actor ? ' – ' + h.actor : '')));
        if (h.reason) item.appendChild(el('div', 'help', 'Skäl: ' + h.reason));
        const changes = Object.entries(h.changes || {});
        if (changes.length) {
          const dl = el('div', 'help');
          dl.textContent = changes.map(function ([k, v]) { return k + ' = ' + (typeof v === 'string' ? v : JSON.stringify(v)); }).join('; ');
          item.appendChild(dl);
        }
        list.appendChild(item);
      });
      panel.appendChild(list);
    });
  }

  // Moving a token by clicking the diagram (issue 15, as in Camunda Operate): "Välj i diagrammet" starts it; a click
  // on an element where the case stands chooses where the token comes from, a click on another element where it
  // goes. An element that cannot be a target is said by name and why; the server checks the move itself and
  // explains a refusal with the elements' names.
  function movePicker(canvas) {
    const button = document.getElementById('move-pick');
    const from = document.getElementById('move-from');
    const to = document.getElementById('move-to');
    const note = document.getElementById('move-pick-status');
    if (!button || !from || !to) return function () { return false; };
    let on = false;
    let marked = null;
    function say(message) { if (note) note.textContent = message; }
    const texts = state.texts || {};
    function words(key, fallback, name) { return (texts[key] || fallback).replace('{name}', name || ''); }
    function mark(id) {
      if (marked) canvas.removeMarker(marked, 'sf-move-target');
      marked = id;
      if (id) canvas.addMarker(id, 'sf-move-target');
    }
    function options(select) { return Array.from(select.options).map(function (o) { return o.value; }); }
    button.addEventListener('click', function () {
      on = !on;
      button.setAttribute('aria-pressed', on ? 'true' : 'false');
      container.classList.toggle('picking', on);
      say(on ? words('pick_start', 'Klicka på elementet token ska flyttas till (eller först på där den står).') : '');
    });
    to.addEventListener('change', function () { mark(to.value || null); });
    return function (element) {
      if (!on) return false;
      const id = element.id;
      const name = state.names[id] || (element.businessObject && element.businessObject.name) || id;
      const here = state.elements[id];
      if (here && (here.active || here.waiting || here.incident) && options(from).includes(id)) {
        from.value = id;
        say(words('pick_from', 'Från: «{name}». Klicka nu på målet.', name));
        return true;
      }
      if (element.type === 'bpmn:SequenceFlow' || element.type === 'bpmn:Process' || element.type === 'bpmn:Collaboration' ||
          element.type === 'bpmn:Participant' || element.type === 'bpmn:Lane' || element.type === 'label') {
        say(words('not_target', '«{name}» kan inte vara mål: välj en aktivitet, en händelse eller en grind.', name));
        return true;
      }
      if (element.type === 'bpmn:BoundaryEvent') {
        say(words('boundary', '«{name}» är en gränshändelse: välj aktiviteten den sitter på.', name));
        return true;
      }
      if (!options(to).includes(id)) {
        say(words('unknown', '«{name}» kan inte vara mål i den här versionen av processen.', name));
        return true;
      }
      to.value = id;
      mark(id);
      to.dispatchEvent(new Event('change'));
      say(words('target', 'Mål: «{name}». Skriv ett skäl och tryck Flytta.', name));
      const reason = document.getElementById('move-reason');
      if (reason) reason.focus();
      return true;
    };
  }

  function drawHeat(registry, overlays) {
    const select = document.getElementById('h-measure');
    const maxLabel = document.getElementById('heat-max');
    function paint() {
      overlays.remove({ type: 'heat' });
      const measure = select ? select.value : 'time_p90_seconds';
      const rows = state.figures.filter(function (f) { return f[measure] !== null && f[measure] !== undefined && registry.get(f.element_id); });
      const max = Math.max.apply(null, rows.map(function (f) { return f[measure]; }).concat([0]));
      if (maxLabel) maxLabel.textContent = max ? '(högst: ' + (measure === 'count' ? max : duration(max)) + ')' : '';
      rows.forEach(function (f) {
        const shape = registry.get(f.element_id);
        const share = max ? f[measure] / max : 0;
        const cell = el('div', 'heat-cell');
        cell.style.width = shape.width + 'px';
        cell.style.height = shape.height + 'px';
        cell.style.background = 'rgba(' + 255 + ',' + Math.round(200 - 200 * share) + ',0,' + (0.2 + 0.65 * share).toFixed(2) + ')';
        cell.setAttribute('data-heat', share.toFixed(2));
        overlays.add(f.element_id, 'heat', { position: { top: 0, left: 0 }, html: cell });
        const label = el('span', 'heat-label', measure === 'count' ? String(f.count) : duration(f[measure]) + ' · ' + f.count + '×');
        overlays.add(f.element_id, 'heat', { position: { bottom: -4, left: 0 }, html: label });
      });
    }
    if (select) select.addEventListener('change', paint);
    paint();
  }

  // A long process fitted to the box is too small to read: on the instance page, show where the case stands (an
  // incident, an overdue step, an active task, a waiting timer) at a readable scale; "Visa hela diagrammet" fits it.
  function focus(canvas, registry) {
    const fit = document.getElementById('diagram-fit');
    if (fit) fit.addEventListener('click', function () { canvas.zoom('fit-viewport'); });
    if (state.mode !== 'instance' || canvas.zoom() >= 0.6) return;
    const order = ['incident', 'overdue', 'active', 'waiting'];
    for (const flag of order) {
      const id = Object.keys(state.elements).find(function (key) { return state.elements[key][flag] && registry.get(key); });
      if (id) {
        canvas.zoom(0.9);
        canvas.scrollToElement(registry.get(id), { top: 120, bottom: 120, left: 200, right: 200 });
        return;
      }
    }
  }

  fetch(state.xml, { credentials: 'same-origin' })
    .then(function (response) { if (!response.ok) throw new Error('diagram ' + response.status); return response.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      const canvas = viewer.get('canvas');
      canvas.zoom('fit-viewport');
      const registry = viewer.get('elementRegistry');
      const overlays = viewer.get('overlays');
      if (state.mode === 'heatmap') drawHeat(registry, overlays); else drawInstance(registry, canvas, overlays);
      focus(canvas, registry);
      container.setAttribute('data-ready', 'true');
    })
    .catch(function (error) {
      container.replaceChildren(el('p', 'error', 'Diagrammet kunde inte visas: ' + error.message));
      container.setAttribute('data-ready', 'error');
    });
})();
