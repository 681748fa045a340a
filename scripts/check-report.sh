#!/bin/sh
# Render autocircuit reports in headless Chromium and check their layout the way a reader
# sees it: no two node boxes, chips or texts overlap, every label sits inside its box,
# everything lies within its SVG, and the page never needs horizontal scrolling (wide
# diagrams scroll inside their frame). Also saves PNG screenshots for a look.
#
# usage: scripts/check-report.sh [BUILD_DIR [OUT_DIR]]
#   BUILD_DIR  build with the autocircuit CLI and test_report (default: build)
#   OUT_DIR    where samples, reports, DOM dumps and PNGs go (default: a fresh temp dir)
# Installs the Debian package chromium when it is missing (needs root). Exits 0 when
# every report is clean, 1 with the list of problems otherwise.
set -eu

BUILD=${1:-build}
OUT=${2:-$(mktemp -d "${TMPDIR:-/tmp}/check-report.XXXXXX")}
CLI="$BUILD/autocircuit"
GEN="$BUILD/test_report"
for f in "$CLI" "$GEN"; do
    [ -x "$f" ] || { echo "check-report: $f not built (run 'make build')" >&2; exit 2; }
done

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "check-report: installing chromium" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
    CHROMIUM=$(command -v chromium)
fi

mkdir -p "$OUT/samples"
"$GEN" --samples "$OUT/samples"
S="$OUT/samples"

# The real pipeline on small models: discover and evaluate, then the report. A prompt
# dataset of equal-length prompts (token ids < 53) so that --positions works too.
SRC=$(cd "$(dirname "$0")/.." && pwd)
cat > "$S/prompts.json" <<'JSON'
{
  "seq_labels": ["<s>", "When", " A", " and", " B", " went"],
  "prompts": [
    {"clean": [10, 11, 12, 13, 14, 15], "corrupt": [10, 11, 16, 13, 14, 15], "answers": [20], "wrong_answers": [21]},
    {"clean": [10, 11, 17, 13, 18, 15], "corrupt": [10, 11, 19, 13, 18, 15], "answers": [22], "wrong_answers": [23]},
    {"clean": [10, 11, 24, 13, 25, 15], "corrupt": [10, 11, 26, 13, 25, 15], "answers": [27], "wrong_answers": [28]},
    {"clean": [10, 11, 29, 13, 30, 15], "corrupt": [10, 11, 31, 13, 30, 15], "answers": [32], "wrong_answers": [33]},
    {"clean": [10, 11, 34, 13, 35, 15], "corrupt": [10, 11, 36, 13, 35, 15], "answers": [37], "wrong_answers": [38]},
    {"clean": [10, 11, 39, 13, 40, 15], "corrupt": [10, 11, 41, 13, 40, 15], "answers": [42], "wrong_answers": [43]},
    {"clean": [10, 11, 44, 13, 45, 15], "corrupt": [10, 11, 46, 13, 45, 15], "answers": [47], "wrong_answers": [48]},
    {"clean": [10, 11, 49, 13, 50, 15], "corrupt": [10, 11, 51, 13, 50, 15], "answers": [12], "wrong_answers": [14]}
  ]
}
JSON
real_cases=""
for model in "$SRC/tests/data/golden/gpt2_tiny" "${AC_SHARED_DIR:-$SRC/../shared}/models/stories260K/stories260K.bin"; do
    [ -e "$model" ] || continue
    m=$(basename "$model" .bin)
    common="--model $model --data $S/prompts.json --train-test 4,4 --quiet"
    # shellcheck disable=SC2086
    "$CLI" discover $common --algo eap --out "$S/$m-scores.json"
    # shellcheck disable=SC2086
    "$CLI" evaluate $common --split test --scores "$S/$m-scores.json" --out "$S/$m-curve.json"
    # shellcheck disable=SC2086
    "$CLI" discover $common --algo eap --positions --out "$S/$m-pos-scores.json"
    # completeness and similarity sections
    # shellcheck disable=SC2086
    "$CLI" discover $common --algo random --out "$S/$m-random.json"
    # shellcheck disable=SC2086
    "$CLI" knockout $common --scores "$S/$m-scores.json" --edges 10 --epochs 3 --out "$S/$m-knockout.json"
    real_cases="$real_cases
$m|--scores $S/$m-scores.json --curve $S/$m-curve.json
$m-pos|--scores $S/$m-pos-scores.json --top 20
$m-ko|--scores $S/$m-scores.json --knockout $S/$m-knockout.json --similar $S/$m-random.json --similarity-top 5,10"
done

# name | options
cat > "$OUT/cases.txt" <<CASES
gpt2|--scores $S/gpt2-scores.json --curve $S/gpt2-curve.json --ground-truth $S/gpt2-ground-truth.json --title GPT-2 small, planted circuit
gpt2-top300|--scores $S/gpt2-scores.json --ground-truth $S/gpt2-ground-truth.json --top 300
gpt2-edges|--scores $S/gpt2-scores.json --curve $S/gpt2-curve.json --edges 20
positions|--scores $S/pos-scores.json --top 15 --title Per-position edges
tiny|--scores $S/tiny-scores.json --top 26$real_cases
CASES

# The checker, run at the end of the page: collects the rendered boxes of the SVGs.
cat > "$OUT/check.js" <<'JS'
(function () {
  var problems = [], n = {svg: 0, box: 0, text: 0};
  var tol = 0.5;
  function r(el) { return el.getBoundingClientRect(); }
  function ov(a, b) { return a.left < b.right - tol && b.left < a.right - tol && a.top < b.bottom - tol && b.top < a.bottom - tol; }
  function inside(a, b) { return a.left >= b.left - tol && a.top >= b.top - tol && a.right <= b.right + tol && a.bottom <= b.bottom + tol; }
  function nm(el) { return el.tagName + (el.id ? '#' + el.id : '') + ' "' + (el.textContent || '').trim().slice(0, 40) + '"'; }
  function fmt(b) { return '(' + b.left.toFixed(1) + ',' + b.top.toFixed(1) + ' ' + b.width.toFixed(1) + 'x' + b.height.toFixed(1) + ')'; }
  document.querySelectorAll('svg.ac-svg').forEach(function (svg, si) {
    n.svg++;
    var sr = r(svg), where = 'svg ' + si + ' (' + svg.getAttribute('class') + ')';
    var boxes = Array.from(svg.querySelectorAll('.ac-box')), texts = Array.from(svg.querySelectorAll('text.ac-text'));
    var ports = Array.from(svg.querySelectorAll('.ac-port'));
    var br = boxes.map(r), tr = texts.map(r);
    n.box += boxes.length; n.text += texts.length;
    boxes.concat(texts, ports).forEach(function (el) {
      var b = r(el);
      if (!inside(b, sr)) problems.push(where + ': outside the SVG: ' + nm(el) + ' ' + fmt(b));
      if (el.tagName === 'text' && !(b.width > 0)) problems.push(where + ': empty text ' + nm(el));
    });
    for (var i = 0; i < boxes.length; i++)
      for (var j = i + 1; j < boxes.length; j++)
        if (ov(br[i], br[j])) problems.push(where + ': boxes overlap: ' + nm(boxes[i]) + ' ' + fmt(br[i]) + ' and ' + nm(boxes[j]) + ' ' + fmt(br[j]));
    for (var i = 0; i < texts.length; i++)
      for (var j = i + 1; j < texts.length; j++)
        if (ov(tr[i], tr[j])) problems.push(where + ': texts overlap: ' + nm(texts[i]) + ' ' + fmt(tr[i]) + ' and ' + nm(texts[j]) + ' ' + fmt(tr[j]));
    texts.forEach(function (t, i) {
      var own = t.getAttribute('data-box');
      for (var j = 0; j < boxes.length; j++) {
        if (own && boxes[j].id === own) {
          if (!inside(tr[i], br[j])) problems.push(where + ': label sticks out of its box: ' + nm(t) + ' ' + fmt(tr[i]) + ' in ' + fmt(br[j]));
        } else if (ov(tr[i], br[j])) {
          problems.push(where + ': text over a box: ' + nm(t) + ' ' + fmt(tr[i]) + ' and ' + nm(boxes[j]) + ' ' + fmt(br[j]));
        }
      }
    });
    ports.forEach(function (p) {
      var node = svg.getElementById(p.getAttribute('data-box'));
      if (!node || !inside(r(p), r(node))) problems.push(where + ': port outside its node ' + p.getAttribute('data-box'));
    });
    /* wider than the page: only inside a frame that scrolls */
    var de = document.documentElement;
    if (sr.right > de.clientWidth + tol || sr.left < -tol) {
      var fr = svg.parentElement, cs = fr && getComputedStyle(fr);
      if (!cs || (cs.overflowX !== 'auto' && cs.overflowX !== 'scroll') || r(fr).right > de.clientWidth + tol)
        problems.push(where + ': runs off the page (' + sr.right.toFixed(0) + ' > ' + de.clientWidth + ')');
    }
  });
  var de = document.documentElement;
  if (de.scrollWidth > de.clientWidth + 1) problems.push('the page scrolls sideways: ' + de.scrollWidth + ' > ' + de.clientWidth);
  document.querySelectorAll('main > *, section > *').forEach(function (el) {
    var b = r(el);
    if (b.right > de.clientWidth + tol) problems.push('runs off the page: ' + el.tagName + '.' + el.className + ' ' + fmt(b));
  });
  var out = document.createElement('pre');
  out.id = 'report-check';
  out.textContent = problems.length ? 'REPORT-PROBLEMS\n' + problems.slice(0, 200).join('\n') + '\nEND-PROBLEMS'
                                    : 'REPORT-OK svgs=' + n.svg + ' boxes=' + n.box + ' texts=' + n.text;
  document.body.appendChild(out);
})();
JS

chrome() {
    # a private profile, no GPU; chromium's own log lines go to the .log file
    timeout 300 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$OUT/profile" "$@" 2>>"$OUT/chromium.log"
}

# Reports, and for each a copy with the checker injected at the end of its body.
pages=""
while IFS='|' read -r name opts; do
    [ -n "$name" ] || continue
    # shellcheck disable=SC2086 # options are split on purpose; titles are passed whole
    case "$opts" in
        *--title*) title=${opts#*--title }; opts=${opts%% --title*}
                   "$CLI" report $opts --title "$title" --out "$OUT/$name.html" >/dev/null ;;
        *)         "$CLI" report $opts --out "$OUT/$name.html" >/dev/null ;;
    esac
    pages="$pages $name"
    if [ "$name" = positions ]; then # the diagram alone: a standalone SVG, wrapped in a page
        "$CLI" report $opts --format svg --out "$OUT/$name.svg" >/dev/null
        { printf '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body style="margin:0">\n'
          printf '<div style="overflow-x:auto">\n'
          sed '1d' "$OUT/$name.svg"; printf '</div></body></html>\n'; } > "$OUT/$name-svg.html"
        pages="$pages $name-svg"
    fi
done < "$OUT/cases.txt"
# A negative control: the tiny report with a node label drawn twice and a block wider
# than any window. The checker must flag both, or it checks nothing.
awk '/<text class="ac-text"/ && !done { print; done = 1 } { print }
     /<section id="circuit">/ { print "<div style=\"width:3000px\">too wide</div>" }' \
    "$OUT/tiny.html" > "$OUT/control.html"
for page in $pages control; do
    sed '/<\/body>/d; /<\/html>/d' "$OUT/$page.html" > "$OUT/$page.check.html"
    { printf '<script>\n'; cat "$OUT/check.js"; printf '</script>\n</body>\n</html>\n'; } >> "$OUT/$page.check.html"
done

# One browser run checks every page at two window widths, each in its own frame.
{
    printf '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
    for page in $pages control; do
        for width in 1280 820; do
            printf '<iframe data-name="%s at %s px" src="%s.check.html" width="%s" height="900"></iframe>\n' \
                "$page" "$width" "$page" "$width"
        done
    done
    cat <<'JS'
<script>
window.addEventListener('load', function () {
  var lines = [];
  document.querySelectorAll('iframe').forEach(function (f) {
    var res = null, name = f.getAttribute('data-name');
    try { res = f.contentDocument.getElementById('report-check'); } catch (e) {}
    var t = res ? res.textContent : 'REPORT-PROBLEMS\nthe checker did not run\nEND-PROBLEMS';
    if (t.indexOf('REPORT-OK') === 0) { lines.push(name + ': ok ' + t.slice(10)); return; }
    t.split('\n').forEach(function (l) {
      if (l && l !== 'REPORT-PROBLEMS' && l !== 'END-PROBLEMS') lines.push(name + ': problem: ' + l);
    });
  });
  var pre = document.createElement('pre');
  pre.id = 'suite-result';
  pre.textContent = 'SUITE-BEGIN\n' + lines.join('\n') + '\nSUITE-END';
  document.body.appendChild(pre);
});
</script>
</body></html>
JS
} > "$OUT/suite.html"
chrome --allow-file-access-from-files --virtual-time-budget=60000 --window-size=1400,1000 \
    --dump-dom "file://$OUT/suite.html" > "$OUT/suite.dom" || true

status=0
if grep -q '<pre id="suite-result">SUITE-BEGIN' "$OUT/suite.dom"; then
    sed -n '/<pre id="suite-result">SUITE-BEGIN/,/^SUITE-END/p' "$OUT/suite.dom" | sed '1d;$d' |
        sed 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&amp;/\&/g' > "$OUT/result.txt"
    grep -v '^control ' "$OUT/result.txt"
    if grep -v '^control ' "$OUT/result.txt" | grep -q ': problem: '; then status=1; fi
    for page in $pages; do
        for width in 1280 820; do
            if ! grep -q "^$page at $width px: " "$OUT/result.txt"; then
                echo "$page at $width px: problem: no result"
                status=1
            fi
        done
    done
    for width in 1280 820; do
        if grep -q "^control at $width px: problem: .*texts overlap" "$OUT/result.txt" &&
           grep -q "^control at $width px: problem: the page scrolls sideways" "$OUT/result.txt"; then
            echo "control at $width px: fails as it should (a label drawn twice, a block too wide)"
        else
            echo "control at $width px: problem: the checker missed the faults planted in control.html"
            status=1
        fi
    done
else
    echo "FAIL the browser produced no result (see $OUT/chromium.log)"
    status=1
fi

# Screenshots: every report (CHECK_REPORT_SHOTS=one: the first only, for quick runs).
for page in $pages; do
    chrome --window-size=1280,2400 --screenshot="$OUT/$page.png" "file://$OUT/$page.html" >/dev/null || true
    if [ -s "$OUT/$page.png" ]; then echo "png  $OUT/$page.png"; else echo "FAIL $page: no screenshot"; status=1; fi
    [ "${CHECK_REPORT_SHOTS:-all}" = one ] && break
done

echo "reports, DOM dumps and screenshots in $OUT"
exit $status
