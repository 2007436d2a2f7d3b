// xnat-gateway console: local times, and live regions that pause while someone works inside them.
// Served by the gateway itself (no CDN); the pages work without it, showing times in UTC.
/* global document, window */
(function () {
  'use strict';
  function localise(root) {
    var nodes = root.querySelectorAll('time[data-local]');
    for (var i = 0; i < nodes.length; i++) {
      var t = nodes[i];
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d.getTime())) {
        t.title = t.getAttribute('datetime');
        t.textContent = d.toLocaleString(undefined, {
          year: 'numeric',
          month: '2-digit',
          day: '2-digit',
          hour: '2-digit',
          minute: '2-digit',
          second: '2-digit',
        });
      }
    }
  }
  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }
  // datetime-local fields hold the viewer's local time; the server is told the instant (ISO, UTC),
  // so a browser and a gateway in different time zones agree on what "from 08:00" means.
  function localInputs(root) {
    var inputs = root.querySelectorAll('input[type=datetime-local][data-iso]');
    for (var i = 0; i < inputs.length; i++) {
      var d = new Date(inputs[i].getAttribute('data-iso'));
      if (!inputs[i].value && !isNaN(d.getTime())) {
        inputs[i].value =
          d.getFullYear() +
          '-' +
          pad(d.getMonth() + 1) +
          '-' +
          pad(d.getDate()) +
          'T' +
          pad(d.getHours()) +
          ':' +
          pad(d.getMinutes());
      }
    }
  }
  document.addEventListener('submit', function (e) {
    var inputs = e.target.querySelectorAll('input[type=datetime-local]');
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (!input.value) {
        input.disabled = true;
        continue;
      }
      var hidden = document.createElement('input');
      hidden.type = 'hidden';
      hidden.className = 'iso-copy';
      hidden.name = input.name;
      hidden.value = new Date(input.value).toISOString();
      input.disabled = true;
      e.target.appendChild(hidden);
    }
  });
  // Back from the results page the fields must be usable again.
  window.addEventListener('pageshow', function () {
    var inputs = document.querySelectorAll('input[type=datetime-local]');
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].disabled = false;
    }
    var copies = document.querySelectorAll('input.iso-copy');
    for (var j = 0; j < copies.length; j++) {
      copies[j].parentNode.removeChild(copies[j]);
    }
  });
  document.addEventListener('DOMContentLoaded', function () {
    localise(document);
    localInputs(document);
  });
  // A live region is swapped every few seconds; a keyboard or pointer user inside it would lose
  // their place, so a region holding the focus is not refreshed until the focus leaves it.
  document.addEventListener('htmx:beforeRequest', function (e) {
    var elt = e.detail && e.detail.elt;
    var active = document.activeElement;
    if (elt && active && active !== document.body && elt.contains(active)) {
      e.preventDefault();
    }
  });
  document.addEventListener('htmx:afterSwap', function (e) {
    localise(e.detail && e.detail.target ? e.detail.target.parentNode || document : document);
  });
})();
