//! The session's rules on a small plan, with exact times.

use std::sync::Arc;

use super::*;
use crate::plan::fixtures::{Words, routine, step};
use crate::plan::{Options, plan};
use crate::routine::{CountMode, Span, Work};

/// Stroking 20 s, deep stroking 15 × 3 s, then pressing 3 × (hold 4 s).
fn sample() -> Arc<Plan> {
    let routine = routine(
        "Lower back",
        vec![
            step(
                "Stroking",
                Work::Timed {
                    time: Span::exactly(20_000),
                },
            ),
            step(
                "Deep stroking",
                Work::Counted {
                    reps: Span::exactly(15),
                    tempo: 3_000,
                    hold: None,
                    count: CountMode::Every,
                },
            ),
            step(
                "Pressing",
                Work::Counted {
                    reps: Span::exactly(3),
                    tempo: 2_000,
                    hold: Some(Span::exactly(4_000)),
                    count: CountMode::Every,
                },
            ),
        ],
    );
    Arc::new(plan(&routine, &Options::default(), &Words).expect("plans"))
}

fn count_cue(plan: &Plan, step: usize, n: u32) -> usize {
    plan.cues
        .iter()
        .position(|c| c.step == Some(step) && c.rep.is_some_and(|r| r.n == n))
        .expect("the count exists")
}

/// Plays a running session from `from` to `until`, as a player would:
/// returns the cue indices played and when.
fn play(session: &mut Session, from: Ms, until: Ms) -> Vec<(Ms, usize)> {
    let mut now = from;
    let mut out = Vec::new();
    while now <= until {
        match session.due(now) {
            Due::Play(i) => out.push((now, i)),
            Due::Wait(t) => now = t,
            Due::Nothing => break,
        }
    }
    out
}

#[test]
fn cues_fall_due_at_their_offsets_from_the_start() {
    let plan = sample();
    let mut s = Session::start(plan.clone(), 1_000);
    let played = play(&mut s, 1_000, 1_000 + plan.total_ms);
    assert_eq!(played.len(), plan.cues.len());
    for (at, i) in played {
        assert_eq!(at, 1_000 + plan.cues[i].at_ms);
    }
    assert_eq!(s.state(), State::Finished);
    assert_eq!(s.due(1_000 + plan.total_ms + 5), Due::Nothing);
}

#[test]
fn after_a_stall_stale_cues_are_dropped_not_burst() {
    let plan = sample();
    let mut s = Session::start(plan.clone(), 0);
    let c3 = count_cue(&plan, 1, 3);
    let c6 = count_cue(&plan, 1, 6);
    // play up to count 3, then the clock jumps 10 s (a suspend)
    let played = play(&mut s, 0, plan.cues[c3].at_ms);
    assert_eq!(played.last().map(|p| p.1), Some(c3));
    let wake = plan.cues[c3].at_ms + 10_000;
    // counts 4..6 are stale; 6 is due at count3+9 s, so at +10 s it is stale too
    let next = s.due(wake);
    assert_eq!(next, Due::Wait(plan.cues[c6 + 1].at_ms));
    assert_eq!(s.dropped(), 3);
    // within the tolerance a late cue still plays
    assert_eq!(
        s.due(plan.cues[c6 + 1].at_ms + STALE_AFTER),
        Due::Play(c6 + 1)
    );
}

#[test]
fn pause_and_resume_carry_on_from_the_repetition() {
    let plan = sample();
    let mut s = Session::start(plan.clone(), 0);
    let c7 = count_cue(&plan, 1, 7);
    let mid_rep = plan.cues[c7].at_ms + 1_700;
    play(&mut s, 0, mid_rep);
    assert!(s.pause(mid_rep));
    assert!(!s.pause(mid_rep + 5), "pausing twice is a no-op");
    assert_eq!(s.state(), State::Paused);
    assert_eq!(s.due(mid_rep + 60_000), Due::Nothing, "silent while paused");
    let later = mid_rep + 60_000;
    assert_eq!(s.position(later), mid_rep);
    assert_eq!(
        s.resume_phrase(later).as_deref(),
        Some("Resuming: Deep stroking, 7 of 15.")
    );
    assert_eq!(s.resume_point(later), plan.cues[c7].at_ms);
    assert!(s.resume(later, 2_000));
    // the phrase is said, then count 7 comes again
    assert_eq!(s.due(later), Due::Wait(later + 2_000 + RESUME_GAP));
    assert_eq!(s.due(later + 2_000 + RESUME_GAP), Due::Play(c7));
    let status = s.status(later + 2_000 + RESUME_GAP);
    assert_eq!((status.rep, status.reps), (Some(7), Some(15)));
}

#[test]
fn a_held_repetition_resumes_from_its_count() {
    let plan = sample();
    let mut s = Session::start(plan.clone(), 0);
    let first = count_cue(&plan, 2, 2);
    let release = plan.cues[first..]
        .iter()
        .position(|c| c.kind == CueKind::Release)
        .map(|i| first + i)
        .expect("a release");
    let inside_hold = plan.cues[release].at_ms - 500;
    play(&mut s, 0, inside_hold);
    s.pause(inside_hold);
    assert_eq!(s.resume_point(inside_hold), plan.cues[first].at_ms);
    assert_eq!(
        s.resume_phrase(inside_hold).as_deref(),
        Some("Resuming: Pressing, 2 of 3.")
    );
}

#[test]
fn an_announcement_cut_off_is_said_again() {
    let plan = sample();
    let mut s = Session::start(plan.clone(), 0);
    let announce = plan.steps[1].start_ms;
    s.pause(announce + 50);
    assert_eq!(s.resume_point(announce + 50), announce);
    assert_eq!(
        s.resume_phrase(announce + 50).as_deref(),
        Some("Resuming: Deep stroking.")
    );
}

#[test]
fn next_prev_and_repeat_jump_to_step_boundaries() {
    let plan = sample();
    let steps = &plan.steps;
    let mut s = Session::start(plan.clone(), 0);
    let now = steps[0].start_ms + 8_000;
    s.next_step(now);
    assert_eq!(s.position(now), steps[1].start_ms);
    assert_eq!(s.status(now).step, Some(1));
    // prev right after a step began goes to the one before
    s.prev_step(now + 1_000);
    assert_eq!(s.position(now + 1_000), steps[0].start_ms);
    // prev well into a step goes to its start
    s.prev_step(now + 6_000);
    assert_eq!(s.position(now + 6_000), steps[0].start_ms);
    // repeat restarts the current step and plays its announcement again
    s.next_step(now + 7_000);
    s.repeat_step(now + 12_000);
    assert_eq!(s.position(now + 12_000), steps[1].start_ms);
    let first_of_step = plan
        .cues
        .iter()
        .position(|c| c.step == Some(1))
        .expect("cue");
    assert_eq!(s.due(now + 12_000), Due::Play(first_of_step));
    // next on the last step goes to the closing only at a second press
    s.next_step(now + 13_000);
    assert_eq!(s.take_notice(), None);
    s.next_step(now + 13_000);
    assert_eq!(s.take_notice(), Some(CONFIRM_END));
    assert_eq!(s.status(now + 13_000).step, Some(2), "held back");
    s.next_step(now + 14_000);
    assert_eq!(s.take_notice(), None);
    assert_eq!(s.position(now + 14_000), steps[2].end_ms);
    assert_eq!(s.status(now + 14_000).step, None);
}

#[test]
fn a_second_press_long_after_the_first_asks_again() {
    let plan = sample();
    let last = plan.steps[2].start_ms + 100;
    let mut s = Session::paused_at(plan.clone(), last);
    s.next_step(0);
    assert_eq!(s.take_notice(), Some(CONFIRM_END));
    s.next_step(END_CONFIRM + 1);
    assert_eq!(s.take_notice(), Some(CONFIRM_END), "too late: asked again");
    s.next_step(END_CONFIRM + 2);
    assert_eq!(s.take_notice(), None);
    assert_eq!(s.position(END_CONFIRM + 2), plan.steps[2].end_ms);
}

#[test]
fn next_never_skips_the_cautions() {
    let mut r = routine(
        "Careful",
        vec![step(
            "Stroking",
            Work::Timed {
                time: Span::exactly(20_000),
            },
        )],
    );
    r.cautions = vec!["Not on broken skin.".into(), "Stop if it hurts.".into()];
    let plan = Arc::new(plan(&r, &Options::default(), &Words).expect("plans"));
    let second = plan
        .cues
        .iter()
        .find(|c| c.text == "Stop if it hurts.")
        .expect("the caution");
    let mut s = Session::start(plan.clone(), 0);
    s.next_stretch(second.at_ms);
    assert_eq!(s.take_notice(), Some(CAUTIONS_FIRST));
    assert_eq!(s.position(second.at_ms), second.at_ms, "nothing skipped");
    // once they are said, next goes to the first step
    s.next_step(second.end_ms() + 10);
    assert_eq!(s.take_notice(), None);
    assert_eq!(s.position(second.end_ms() + 10), plan.steps[0].start_ms);
}

#[test]
fn jumps_while_paused_stay_paused() {
    let plan = sample();
    let mut s = Session::start(plan.clone(), 0);
    s.pause(plan.steps[0].start_ms + 3_000);
    s.next_step(100_000);
    assert_eq!(s.state(), State::Paused);
    assert_eq!(s.position(200_000), plan.steps[1].start_ms);
}

#[test]
fn status_reports_step_repetition_and_time() {
    let plan = sample();
    let s = Session::start(plan.clone(), 0);
    let c4 = count_cue(&plan, 1, 4);
    let at = plan.cues[c4].at_ms + 10;
    let status = s.status(at);
    assert_eq!(status.state, State::Running);
    assert_eq!(status.step, Some(1));
    assert_eq!(status.step_name.as_deref(), Some("Deep stroking"));
    assert_eq!((status.rep, status.reps), (Some(4), Some(15)));
    assert_eq!(status.elapsed_ms, at);
    assert_eq!(status.remaining_ms, plan.total_ms - at);
    assert_eq!(status.step_remaining_ms, Some(plan.steps[1].end_ms - at));
}

#[test]
fn a_restored_session_waits_paused_where_it_was() {
    let plan = sample();
    let c9 = count_cue(&plan, 1, 9);
    let mut s = Session::paused_at(plan.clone(), plan.cues[c9].at_ms + 1_000);
    assert_eq!(s.state(), State::Paused);
    assert_eq!(
        s.resume_phrase(0).as_deref(),
        Some("Resuming: Deep stroking, 9 of 15.")
    );
    s.resume(0, 1_000);
    assert_eq!(s.due(1_000 + RESUME_GAP), Due::Play(c9));
}

/// Stroking 20 s, then a step that waits for the go signal, then deep
/// stroking; with the index of the wait's cue.
fn with_wait() -> (Arc<Plan>, usize) {
    let routine = routine(
        "Full body",
        vec![
            step(
                "Stroking",
                Work::Timed {
                    time: Span::exactly(20_000),
                },
            ),
            step("Turn over", Work::Wait),
            step(
                "Deep stroking",
                Work::Counted {
                    reps: Span::exactly(3),
                    tempo: 3_000,
                    hold: None,
                    count: CountMode::Every,
                },
            ),
        ],
    );
    let plan = Arc::new(plan(&routine, &Options::default(), &Words).expect("plans"));
    let wait = plan
        .cues
        .iter()
        .position(|c| c.kind == CueKind::Wait)
        .expect("a wait cue");
    (plan, wait)
}

#[test]
fn a_waiting_step_waits_reminds_every_minute_and_goes_on_at_the_signal() {
    let (plan, wait) = with_wait();
    let at = plan.cues[wait].at_ms;
    let mut s = Session::start(plan.clone(), 0);
    let played = play(&mut s, 0, at + 10 * REMIND_EVERY);
    // everything up to the reminder plays once, then the reminder each minute
    let reminders: Vec<Ms> = played
        .iter()
        .filter(|(_, i)| *i == wait)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(reminders[0], at);
    assert_eq!(reminders.len(), 11, "{reminders:?}");
    for pair in reminders.windows(2) {
        assert_eq!(pair[1] - pair[0], REMIND_EVERY);
    }
    assert!(
        played.iter().all(|(_, i)| *i <= wait),
        "nothing after the wait plays"
    );
    let now = at + 10 * REMIND_EVERY + 5_000;
    assert_eq!(s.state(), State::Waiting);
    assert_eq!(s.position(now), at, "time stands still while waiting");
    assert_eq!(s.status(now).step, Some(1));
    // the go signal says nothing about resuming and carries straight on
    assert_eq!(s.resume_phrase(now), None);
    assert!(s.resume(now, 0));
    assert_eq!(s.state(), State::Running);
    let next_step = plan.steps[2].start_ms;
    let after = play(&mut s, now, now + 60_000);
    assert_eq!(after[0].1, wait + 1, "the next step is announced next");
    assert_eq!(after[0].0, now + next_step - plan.cues[wait].end_ms());
}

#[test]
fn a_waiting_session_paused_or_saved_waits_again_when_resumed() {
    let (plan, wait) = with_wait();
    let at = plan.cues[wait].at_ms;
    let mut s = Session::start(plan.clone(), 0);
    play(&mut s, 0, at + 1_000);
    assert_eq!(s.state(), State::Waiting);
    // a restart restores it at the wait, not past it
    assert_eq!(s.resume_point(at + 1_000), at);
    assert!(s.pause(at + 2_000));
    assert_eq!(s.state(), State::Paused);
    assert!(s.resume_phrase(at + 3_000).is_some());
    assert!(s.resume(at + 3_000, 1_000));
    let played = play(&mut s, at + 3_000, at + 30_000);
    assert_eq!(played.last().map(|p| p.1), Some(wait));
    assert_eq!(s.state(), State::Waiting);
    // `next` from a waiting step runs the next step
    s.next_step(at + 40_000);
    assert_eq!(s.state(), State::Running);
    assert_eq!(s.position(at + 40_000), plan.steps[2].start_ms);
}

/// Kneading 5 × 3 s on each side, then stroking 20 s.
fn sided() -> Arc<Plan> {
    let mut kneading = step(
        "Kneading",
        Work::Counted {
            reps: Span::exactly(5),
            tempo: 3_000,
            hold: None,
            count: CountMode::Every,
        },
    );
    kneading.sides = vec!["left".into(), "right".into()];
    let routine = routine(
        "Legs",
        vec![
            kneading,
            step(
                "Stroking",
                Work::Timed {
                    time: Span::exactly(20_000),
                },
            ),
        ],
    );
    Arc::new(plan(&routine, &Options::default(), &Words).expect("plans"))
}

#[test]
fn next_prev_and_repeat_go_by_stretch() {
    let plan = sided();
    let switch = plan
        .cues
        .iter()
        .find(|c| c.text == "Switch to the right side.")
        .expect("the switch")
        .at_ms;
    let right = &plan.stretches[1];
    assert_eq!((right.step, right.start_ms), (0, switch));
    assert_eq!(right.label, "right side");
    let left_three = plan.cues[count_cue(&plan, 0, 3)].at_ms;

    let mut s = Session::start(plan.clone(), 0);
    assert_eq!(s.status(left_three).stretch.as_deref(), Some("left side"));
    // next: from the left side to the right side, said from its switch
    s.next_stretch(left_three);
    assert_eq!(s.position(left_three), switch);
    assert_eq!(
        s.status(left_three + 10).stretch.as_deref(),
        Some("right side")
    );
    // repeat, well into the right side: back to its switch
    let later = left_three + PREV_GRACE + 5_000;
    s.repeat_stretch(later);
    assert_eq!(s.position(later), switch);
    // prev right after the start of a stretch goes one further back
    s.prev_stretch(later + 100);
    assert_eq!(s.position(later + 100), plan.steps[0].start_ms);
    // next from the last stretch of a step goes to the next step
    let at = later + 200;
    s.next_stretch(at);
    s.next_stretch(at);
    assert_eq!(s.position(at), plan.steps[1].start_ms);
    assert_eq!(s.status(at).stretch, None, "a step of one stretch");
    // the resume phrase names the side
    let mut s = Session::start(plan.clone(), 0);
    let right_two = plan.cues[count_cue(&plan, 0, 2)..]
        .iter()
        .find(|c| c.at_ms > switch && c.text == "2")
        .expect("2 on the right")
        .at_ms;
    s.pause(right_two + 100);
    assert_eq!(
        s.resume_phrase(right_two + 100).as_deref(),
        Some("Resuming: Kneading, right side, 2 of 5.")
    );
}

/// The sample routine with a stroking of 20 s to 2 min, which a booking
/// fits.
fn ranged() -> crate::routine::Routine {
    routine(
        "Ranged",
        vec![
            step(
                "Deep stroking",
                Work::Counted {
                    reps: Span::exactly(15),
                    tempo: 3_000,
                    hold: None,
                    count: CountMode::Every,
                },
            ),
            step(
                "Stroking",
                Work::Timed {
                    time: Span {
                        low: 20_000,
                        high: 120_000,
                    },
                },
            ),
        ],
    )
}

#[test]
fn a_changed_plan_goes_on_from_where_the_session_is_without_a_repeat() {
    let r = ranged();
    let plan = Arc::new(crate::plan::plan(&r, &Options::default(), &Words).unwrap());
    let mut s = Session::start(Arc::clone(&plan), 0);
    let seventh = plan.cues[count_cue(&plan, 0, 7)].at_ms;
    let played = play(&mut s, 0, seventh);
    assert_eq!(played.last().unwrap().1, count_cue(&plan, 0, 7));
    let more = crate::plan::adjust(
        &r,
        &Options::default(),
        &Words,
        &plan,
        seventh + 500,
        30_000,
        None,
    )
    .unwrap();
    s.replace_plan(Arc::new(more.plan), seventh + 500);
    assert_eq!(s.position(seventh + 500), seventh + 500);
    // the next cue is count 8 on its beat; 7 is not said again
    let next = play(&mut s, seventh + 500, seventh + 3_000);
    let new = s.plan();
    assert_eq!(next.len(), 1);
    assert_eq!(new.cues[next[0].1].text, "8");
    assert_eq!(next[0].0, seventh + 3_000);
    assert_eq!(new.steps[0].reps, Some(25));
}

#[test]
fn a_skip_under_a_booking_is_made_up_by_the_steps_after() {
    let r = ranged();
    let booked = 120_000;
    let options = Options {
        length: Some(booked),
        ..Options::default()
    };
    let plan = Arc::new(crate::plan::plan(&r, &options, &Words).unwrap());
    let mut s = Session::start(Arc::clone(&plan), 0).with_booking(Some(booked), 0);
    assert!(s.over_ms().unwrap().abs() <= 1_000);
    let at = plan.cues[count_cue(&plan, 0, 3)].at_ms;
    s.next_step(at);
    let skipped = plan.steps[1].start_ms as i64 - at as i64;
    assert_eq!(s.skipped(), skipped);
    // the plan is now the skip too long for the booking
    assert_eq!(
        s.over_ms().unwrap(),
        plan.total_ms as i64 - booked as i64 - skipped
    );
    let refit = crate::plan::adjust(
        &r,
        &options,
        &Words,
        &plan,
        s.position(at),
        0,
        s.booked_total(),
    )
    .unwrap();
    s.replace_plan(Arc::new(refit.plan), at);
    assert!(s.over_ms().unwrap().abs() <= 1_000, "{:?}", s.over_ms());
    assert_eq!(s.status(at).step, Some(1));
}

#[test]
fn every_move_names_where_it_lands() {
    let plan = sided();
    let left_three = plan.cues[count_cue(&plan, 0, 3)].at_ms;
    let mut s = Session::start(plan.clone(), 0);
    s.next_stretch(left_three);
    assert_eq!(
        s.where_phrase(left_three, Moved::Next).as_deref(),
        Some("Next: Kneading, right side.")
    );
    assert_eq!(
        s.where_phrase(left_three, Moved::Repeat).as_deref(),
        Some("Right side, again.")
    );
    s.prev_stretch(left_three + 10);
    assert_eq!(
        s.where_phrase(left_three + 10, Moved::Prev).as_deref(),
        Some("Back to Kneading, left side.")
    );
    assert_eq!(
        s.where_phrase(left_three + 10, Moved::RepeatStep)
            .as_deref(),
        Some("Kneading, again.")
    );
    // in the opening, back to its start
    let mut s = Session::start(plan.clone(), 0);
    s.prev_step(10);
    assert_eq!(s.position(10), 0);
    assert_eq!(
        s.where_phrase(10, Moved::Prev).as_deref(),
        Some("Back to the start.")
    );
}

#[test]
fn a_hold_stands_the_plan_still_and_goes_on_from_the_cue_it_cut_off() {
    let plan = sample();
    let three = count_cue(&plan, 1, 3);
    let at = plan.cues[three].at_ms + 200;
    let mut s = Session::start(plan.clone(), 0);
    s.hold(at, at + 2_000);
    // still at the start of repetition 3 while something else is said
    assert_eq!(s.position(at + 1_000), plan.cues[three].at_ms);
    assert_eq!(s.due(at + 1_000), Due::Wait(at + 2_000));
    assert_eq!(s.due(at + 2_000), Due::Play(three));
    // a paused session is not moved
    s.pause(at + 2_500);
    let pos = s.position(at + 2_500);
    s.hold(at + 3_000, at + 5_000);
    assert_eq!(s.position(at + 10_000), pos);
}

#[test]
fn the_second_press_window_opens_once_the_notice_is_said() {
    let plan = sample();
    let last = plan.steps[2].start_ms + 100;
    let mut s = Session::paused_at(plan.clone(), last);
    s.next_step(0);
    assert_eq!(s.take_notice(), Some(CONFIRM_END));
    // the notice takes 4 s to say: the window runs 5 s from then
    s.notice_said_until(4_000);
    s.next_step(4_000 + END_CONFIRM);
    assert_eq!(s.take_notice(), None);
    assert_eq!(s.position(9_000), plan.steps[2].end_ms);
}

#[test]
fn what_was_heard_counts_each_part_once() {
    let plan = sample();
    let work = s_work(&plan);
    let start = plan.steps[0].start_ms;
    let mut s = Session::start(plan.clone(), 0);
    assert_eq!(s.work_ms(), work);
    // 10 s of the first step, then the same 10 s again
    s.pause(start + 10_000);
    assert_eq!(s.heard_work_ms(start + 10_000), 10_000);
    s.repeat_step(start + 10_000);
    s.resume(start + 20_000, 0);
    let back = start + 20_000 + RESUME_GAP;
    assert_eq!(s.heard_work_ms(back + 10_000), 10_000, "repeated: once");
    // skipping the rest leaves most of the work unheard
    s.next_step(back + 10_000);
    s.next_step(back + 10_000);
    assert!(s.heard_work_ms(back + 10_000) * 100 < work * 80);
    // played to the end from there, what was skipped is still unheard
    let mut played = Session::start(plan.clone(), 0);
    let _ = play(&mut played, 0, plan.total_ms + 1_000);
    assert_eq!(played.state(), State::Finished);
    assert_eq!(played.heard_work_ms(plan.total_ms + 1_000), work);
    // a restored session keeps what was heard
    let restored =
        Session::paused_at(plan.clone(), start + 5_000).with_heard(vec![(0, start + 5_000)]);
    assert_eq!(restored.heard_work_ms(0), 5_000);
}

fn s_work(plan: &Plan) -> Ms {
    plan.steps.last().unwrap().end_ms - plan.steps[0].start_ms
}
