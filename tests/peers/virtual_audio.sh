#!/bin/bash
# Usage: tests/peers/virtual_audio.sh CMD...  -> private PulseAudio (no sound card needed) with
#   sink  kitsu_out   (default sink: what the program plays; capture it from kitsu_out.monitor)
#   sink  mic_feed    (test plays a WAV here: paplay --latency-msec=20 -d mic_feed x.wav)
#   source kitsu_mic  (default source = remap of mic_feed.monitor: what the program records)
# Needs: apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins ; pip install sounddevice
set -u
WORK=$(mktemp -d /tmp/vaudio.XXXXXX); mkdir -p "$WORK/run" "$WORK/home"
cat > "$WORK/kitsu.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$WORK/run/native
load-module module-null-sink sink_name=kitsu_out rate=48000 sink_properties=device.description=KitsuOut
load-module module-null-sink sink_name=mic_feed rate=48000 sink_properties=device.description=MicFeed
load-module module-remap-source master=mic_feed.monitor source_name=kitsu_mic source_properties=device.description=KitsuMic
set-default-sink kitsu_out
set-default-source kitsu_mic
PA
export PULSE_SERVER="unix:$WORK/run/native"     # all libpulse clients (pactl, ALSA pulse plugin -> PortAudio) use this
XDG_RUNTIME_DIR="$WORK/run" HOME="$WORK/home" pulseaudio -n -F "$WORK/kitsu.pa" --daemonize=no --exit-idle-time=-1 --log-target=file:"$WORK/pulse.log" >/dev/null 2>&1 & PAPID=$!
for i in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
# Keep both null sinks rendering in real time with a low-latency silent stream. Without this, an idle null sink
# renders in large bursts: a recorder on kitsu_mic stalls until something plays, and playback to kitsu_out runs slow.
pacat -p --latency-msec=20 -d mic_feed  --raw --format=s16le --rate=48000 --channels=2 /dev/zero & KA1=$!
pacat -p --latency-msec=20 -d kitsu_out --raw --format=s16le --rate=48000 --channels=2 /dev/zero & KA2=$!
KAPID="$KA1 $KA2"
sleep 2   # let the null sink settle; the first ~1-2 s after start can be bursty
cleanup() { kill -TERM $KAPID $PAPID 2>/dev/null; wait $KAPID $PAPID 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
"$@"
