#!/usr/bin/env bash
# Extracts Jane Austen's six novels from the Debian package r-cran-janeaustenr (installed if
# missing, with R) into $AMALGAM_AUSTEN or ${XDG_DATA_HOME:-~/.local/share}/amalgam/austen as
# one text file per novel (one line of the book per line), for the `austen` text-classification
# task (amalgam finetune / prune). Does nothing if already there.
set -euo pipefail
dest="${AMALGAM_AUSTEN:-${XDG_DATA_HOME:-$HOME/.local/share}/amalgam/austen}"
novels=(sensesensibility prideprejudice mansfieldpark emma northangerabbey persuasion)
done_all=1
for n in "${novels[@]}"; do [ -s "$dest/$n.txt" ] || done_all=0; done
[ $done_all -eq 1 ] && exit 0
if ! dpkg-query -W -f='${Status}' r-cran-janeaustenr 2>/dev/null | grep -q "install ok installed"; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing r-cran-janeaustenr"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends r-cran-janeaustenr >/dev/null
fi
mkdir -p "$dest"
Rscript -e 'args <- commandArgs(TRUE); for (n in args[-1]) { tmp <- file.path(args[1], paste0(n, ".txt.part")); writeLines(getExportedValue("janeaustenr", n), tmp, useBytes = TRUE); file.rename(tmp, file.path(args[1], paste0(n, ".txt"))) }' "$dest" "${novels[@]}"
