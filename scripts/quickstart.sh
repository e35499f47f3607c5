#!/usr/bin/env bash
# Set up nkl and run the main EmoDB experiment end to end (openSMILE eGeMAPS + SVM, test speakers 03 08 09 10);
# its [REPORT] section renders results/experiments/exp_os_svm/exp_os_svm_report.pdf and .html at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/find_emodb.sh
.venv/bin/nkl run examples/emodb/exp_os_svm.ini
.venv/bin/nkl query "select metric, round(value, 3) value, round(ci_low, 3) ci_low, round(ci_high, 3) ci_high from results where experiment = 'exp_os_svm' and split = 'test' and metric in ('uar', 'accuracy', 'macro_f1')"
echo "report: results/experiments/exp_os_svm/exp_os_svm_report.pdf and .html (rendered again by: .venv/bin/nkl report examples/emodb/exp_os_svm.ini)"
