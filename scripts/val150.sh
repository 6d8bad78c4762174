# Sourced by the measurement scripts (fusion-results.sh, equal-tokens.sh, train-protocol.sh): the val150 protocol of
# docs/RESULTS.md on tinystories_val.txt — evaluation on the first 150 paragraphs longer than 100 characters, calibration
# and training on the paragraphs after them — and the headlab command to run. Sets DATA, HEADLAB (array), VAL, CAL, EV.
DATA=${1:-testdata/data}
read -r -a HEADLAB <<< "${HEADLAB:-node bin/headlab.mjs}"
VAL="$DATA/tinystories_val.txt"
CAL=(--text "$VAL" --split blank-lines --min-chars 100 --skip-docs 150)
EV=(--eval-text "$VAL" --eval-split blank-lines --eval-min-chars 100 --eval-max-docs 150)
