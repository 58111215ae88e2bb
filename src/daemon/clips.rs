//! A session's clips: the plan made with the real length of every clip,
//! and the clip of every cue, decoded ahead in timeline order on a thread
//! of its own.

use std::sync::{Arc, OnceLock};

use crate::clip::Clip;
use crate::plan::{self, Cue, Plan};
use crate::routine::Routine;
use crate::voice::{Progress, Voice};

/// The clip of every cue of a plan, by index, decoded once when first
/// wanted: by the prefetch thread, or by the session task when a cue falls
/// due before the thread got to it.
#[derive(Debug, Clone)]
pub(super) struct Clips {
    slots: Arc<Vec<OnceLock<Clip>>>,
    voice: Arc<Voice>,
}

impl Clips {
    /// No clips: a finished session lets go of its own.
    pub(super) fn none(voice: Arc<Voice>) -> Clips {
        Clips {
            slots: Arc::new(Vec::new()),
            voice,
        }
    }

    /// The clip of `cue`, the plan's cue `i`, decoded now if the prefetch
    /// thread has not got to it yet.
    pub(super) fn get(&self, i: usize, cue: &Cue) -> Option<Clip> {
        let slot = self.slots.get(i)?;
        Some(slot.get_or_init(|| self.voice.cue_clip(cue)).clone())
    }
}

/// Plans the session with the real length of every clip (see
/// [`Voice::plan`]) and pairs every cue with its clip, decoded ahead.
///
/// Blocks while the voice renders phrases it has not got yet, counting
/// them in `progress`: call it away from the session task.
pub(super) fn make_plan(
    routine: &Routine,
    options: &plan::Options,
    voice: &Arc<Voice>,
    progress: &Progress,
) -> Result<(Arc<Plan>, Clips), plan::PlanError> {
    let plan = Arc::new(voice.plan_with(routine, options, progress)?);
    let clips = for_plan(&plan, voice);
    Ok((plan, clips))
}

/// Pairs every cue of `plan` with its clip, decoded ahead.
pub(super) fn for_plan(plan: &Arc<Plan>, voice: &Arc<Voice>) -> Clips {
    let clips = Clips {
        slots: Arc::new(plan.cues.iter().map(|_| OnceLock::new()).collect()),
        voice: Arc::clone(voice),
    };
    prefetch(&clips, plan);
    clips
}

/// Decodes clips in timeline order beside the session, so the first cue
/// waits only for its own clip. The thread stops once the session has let
/// go of its clips.
fn prefetch(clips: &Clips, plan: &Arc<Plan>) {
    let (ahead, voice, cues) = (
        Arc::clone(&clips.slots),
        Arc::clone(&clips.voice),
        Arc::clone(plan),
    );
    let spawned = std::thread::Builder::new()
        .name("clips".into())
        .spawn(move || {
            for (slot, cue) in ahead.iter().zip(&cues.cues) {
                // the session ended: nobody else holds its clips
                if Arc::strong_count(&ahead) == 1 {
                    return;
                }
                slot.get_or_init(|| voice.cue_clip(cue));
            }
        });
    if let Err(err) = spawned {
        tracing::warn!("clips are decoded as they fall due: {err}");
    }
}
