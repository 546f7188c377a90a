// Progressive enhancement for the catalog portal: every page works without
// this script. It adds copy buttons, table filters and the "/" shortcut.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  document.querySelectorAll('button[data-copy]').forEach(function (b) {
    var target = document.getElementById(b.getAttribute('data-copy'));
    if (!target || !navigator.clipboard) { return; }
    b.hidden = false;
    b.addEventListener('click', function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        b.textContent = 'Copied';
        setTimeout(function () { b.textContent = 'Copy'; }, 1500);
      }, function () {
        b.textContent = 'Select and copy';
      });
    });
  });

  document.querySelectorAll('input[data-filter]').forEach(function (input) {
    var table = document.getElementById(input.getAttribute('data-filter'));
    if (!table) { return; }
    input.hidden = false;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
    input.addEventListener('input', function () {
      var v = input.value.trim().toLowerCase();
      rows.forEach(function (r, i) { r.hidden = v !== '' && text[i].indexOf(v) < 0; });
    });
  });

  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) { return; }
    var box = document.getElementById('q') || document.querySelector('input[name="q"]');
    if (box) { e.preventDefault(); box.focus(); box.select(); }
  });

  document.querySelectorAll('select[data-submit]').forEach(function (s) {
    s.addEventListener('change', function () { if (s.form) { s.form.submit(); } });
  });
})();
