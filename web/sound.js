// The host's sound: muted until the user's first interaction (browsers refuse to start sound
// without one), with a clear control until then, and a mute button and volume slider after.
// The choices persist in this browser.

const MUTED_KEY = 'peerdesk.muted';
const VOLUME_KEY = 'peerdesk.volume';

export class Sound {
  /**
   * @param {HTMLVideoElement} video  plays the stream's audio track along with the picture
   * @param {{button: HTMLButtonElement, label: HTMLElement, volume: HTMLInputElement}} controls
   */
  constructor(video, controls, storage = globalThis.localStorage, win = globalThis.window) {
    this.video = video;
    this.button = controls.button;
    this.label = controls.label;
    this.volume = controls.volume;
    this.storage = storage;
    this.hasAudio = false;
    // The user's choice: sound wanted unless they muted it themselves last time.
    this.wanted = this.read(MUTED_KEY) !== '1';
    const v = Number(this.read(VOLUME_KEY));
    this.video.volume = Number.isFinite(v) && v >= 0 && v <= 1 && this.read(VOLUME_KEY) !== null ? v : 1;
    this.volume.value = String(Math.round(this.video.volume * 100));
    this.video.muted = true;

    this.button.addEventListener('click', (e) => {
      e.stopPropagation();
      this.wanted = this.video.muted;
      this.write(MUTED_KEY, this.wanted ? '0' : '1');
      this.apply();
      this.video.parentElement?.focus();
    });
    this.volume.addEventListener('input', () => {
      this.video.volume = Math.min(1, Math.max(0, Number(this.volume.value) / 100));
      this.write(VOLUME_KEY, String(this.video.volume));
      if (this.video.volume > 0 && this.video.muted) {
        this.wanted = true;
        this.write(MUTED_KEY, '0');
        this.apply();
      }
    });
    // The first click or key press anywhere is the gesture that lets sound start.
    const gesture = () => { if (this.wanted && this.video.muted) this.apply(); };
    for (const type of ['pointerdown', 'keydown']) win.addEventListener(type, gesture, { capture: true });
    this.render();
  }

  read(key) {
    try { return this.storage?.getItem(key) ?? null; } catch { return null; }
  }

  write(key, value) {
    try { this.storage?.setItem(key, value); } catch { /* private mode: not remembered */ }
  }

  /** The stream changed: sound is possible when it has an audio track. */
  setStream(stream) {
    this.hasAudio = !!stream && stream.getAudioTracks().length > 0;
    if (this.hasAudio && this.wanted) this.apply();
    this.render();
  }

  /** Unmutes when wanted (if the browser allows it now), mutes otherwise. */
  apply() {
    if (!this.wanted || !this.hasAudio) {
      this.video.muted = true;
      this.render();
      return;
    }
    this.video.muted = false;
    const playing = this.video.play();
    // Refused without a user gesture: stay muted (the picture keeps playing) until one.
    playing?.catch?.(() => {
      this.video.muted = true;
      this.video.play().catch(() => {});
      this.render();
    });
    this.render();
  }

  render() {
    const muted = this.video.muted;
    const blocked = this.hasAudio && this.wanted && muted;
    this.button.disabled = !this.hasAudio;
    this.button.dataset.state = !this.hasAudio ? 'none' : muted ? 'muted' : 'on';
    this.button.setAttribute('aria-pressed', String(!muted));
    this.button.title = !this.hasAudio ? 'The host sends no sound'
      : blocked ? 'Click anywhere to turn the sound on' : muted ? 'Unmute' : 'Mute';
    this.label.textContent = blocked ? 'Click for sound' : '';
    this.label.hidden = !blocked;
    this.volume.disabled = !this.hasAudio;
  }
}
