#!/usr/bin/env bash
# Rebuild the bundled sample clips: three synthetic voices (espeak-ng), 16 kHz
# mono, and a ready two-microphone mixture of the first two made by cocktail
# (the sidecar mixture.json keeps the mixing matrix for scoring).
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox) and cocktail
# installed. The committed files were made by this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
say() {  # say NAME VOICE PITCH SPEED TEXT
  espeak-ng -v "$2" -p "$3" -s "$4" -w "$1.raw.wav" "$5"
  sox "$1.raw.wav" -r 16000 -b 16 -c 1 "$1.wav" norm -3
  rm "$1.raw.wav"
}
say alice "en-us+f3" 70 150 "Every microphone in the room hears all of us talking at once, yet you can still follow my voice."
say bob "en-gb+m3" 30 135 "And now the weather: heavy rain in the north, bright sunshine in the south by evening."
say carol "en-us+f5" 55 170 "Seven hundred and twenty three, seven hundred and twenty four, and twenty five."
cocktail mix alice.wav bob.wav -o mixture.wav --seed 1 --subtype PCM_16
