//! The servo motion logic against embedded-hal-mock expectations, and its timing against a
//! fake clock.

use std::cell::RefCell;
use std::convert::Infallible;
use std::io::ErrorKind;

use angle::Servo;
use angle::servo::{STEP_DELAY_MS, pulse_us};
use embedded_hal::delay::DelayNs;
use embedded_hal::pwm::{ErrorType, SetDutyCycle};
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Delay};
use embedded_hal_mock::eh1::pwm::{Mock as PwmMock, Transaction as Pwm};

/// Timer1 as the firmware sets it up: 2 MHz, 40,000 ticks a 20 ms frame.
const FULL: u16 = 40_000;

#[test]
fn attach_centres_the_servo() {
    let mut pwm = PwmMock::new(&[Pwm::max_duty_cycle(FULL), Pwm::set_duty_cycle(2944)]);
    let servo = Servo::attach(pwm.clone()).unwrap();
    assert_eq!(servo.angle(), 90);
    pwm.done();
}

#[test]
fn sweep_from_90_to_93() {
    let mut pwm = PwmMock::new(&[
        Pwm::max_duty_cycle(FULL),
        Pwm::set_duty_cycle(2944), // 90: 1472 µs
        Pwm::set_duty_cycle(2964), // 91: 1482 µs
        Pwm::set_duty_cycle(2984), // 92: 1492 µs
        Pwm::set_duty_cycle(3004), // 93: 1502 µs
    ]);
    let mut delay = CheckedDelay::new(&[
        Delay::delay_ms(15),
        Delay::delay_ms(15),
        Delay::delay_ms(15),
    ]);
    let mut servo = Servo::attach(pwm.clone()).unwrap();
    servo.sweep(93, &mut delay, STEP_DELAY_MS).unwrap();
    assert_eq!(servo.angle(), 93);
    pwm.done();
    delay.done();
}

#[test]
fn sweep_down_from_90_to_88() {
    let mut pwm = PwmMock::new(&[
        Pwm::max_duty_cycle(FULL),
        Pwm::set_duty_cycle(2944),
        Pwm::set_duty_cycle(2922), // 89: 1461 µs
        Pwm::set_duty_cycle(2902), // 88: 1451 µs
    ]);
    let mut delay = CheckedDelay::new(&[Delay::delay_ms(15), Delay::delay_ms(15)]);
    let mut servo = Servo::attach(pwm.clone()).unwrap();
    servo.sweep(88, &mut delay, STEP_DELAY_MS).unwrap();
    assert_eq!(servo.angle(), 88);
    pwm.done();
    delay.done();
}

#[test]
fn a_sweep_to_where_it_is_does_nothing() {
    let mut pwm = PwmMock::new(&[Pwm::max_duty_cycle(FULL), Pwm::set_duty_cycle(2944)]);
    let mut delay = CheckedDelay::new(&[]);
    let mut servo = Servo::attach(pwm.clone()).unwrap();
    servo.sweep(90, &mut delay, STEP_DELAY_MS).unwrap();
    assert_eq!(servo.angle(), 90);
    pwm.done();
    delay.done();
}

#[test]
fn a_target_past_180_stops_at_180() {
    let mut expected = vec![Pwm::max_duty_cycle(FULL), Pwm::set_duty_cycle(2944)];
    expected.extend((91..=180).map(|a| Pwm::set_duty_cycle(pulse_us(a) * 2)));
    let mut pwm = PwmMock::new(&expected);
    let mut servo = Servo::attach(pwm.clone()).unwrap();
    servo.sweep(255, &mut NoopDelay::new(), 15).unwrap();
    assert_eq!(servo.angle(), 180);
    drop(servo.release());
    pwm.done();
}

#[test]
fn a_pwm_error_stops_the_sweep_where_it_failed() {
    let mut pwm = PwmMock::new(&[
        Pwm::max_duty_cycle(FULL),
        Pwm::set_duty_cycle(2944),
        Pwm::set_duty_cycle(2964),
        Pwm::set_duty_cycle(2984).with_error(MockError::Io(ErrorKind::NotConnected)),
    ]);
    let mut delay = CheckedDelay::new(&[Delay::delay_ms(15)]);
    let mut servo = Servo::attach(pwm.clone()).unwrap();
    servo.sweep(100, &mut delay, 15).unwrap_err();
    assert_eq!(servo.angle(), 91, "the last angle actually written");
    pwm.done();
    delay.done();
}

/// What the servo did, in order, on a fake clock.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    Duty(u16),
    Wait(u64),
}

/// A PWM channel and a delay sharing one log; the delay only advances a fake clock.
#[derive(Default)]
struct Bench {
    log: RefCell<Vec<Event>>,
}

struct FakePwm<'a>(&'a Bench);
struct FakeDelay<'a>(&'a Bench);

impl ErrorType for FakePwm<'_> {
    type Error = Infallible;
}

impl SetDutyCycle for FakePwm<'_> {
    fn max_duty_cycle(&self) -> u16 {
        FULL
    }
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        self.0.log.borrow_mut().push(Event::Duty(duty));
        Ok(())
    }
}

impl DelayNs for FakeDelay<'_> {
    fn delay_ns(&mut self, ns: u32) {
        self.0.log.borrow_mut().push(Event::Wait(u64::from(ns)));
    }
}

impl Bench {
    fn elapsed_ns(&self) -> u64 {
        self.log
            .borrow()
            .iter()
            .map(|e| match e {
                Event::Wait(ns) => *ns,
                Event::Duty(_) => 0,
            })
            .sum()
    }
}

#[test]
fn sweep_timing_on_a_fake_clock() {
    let bench = Bench::default();
    let Ok(mut servo) = Servo::attach(FakePwm(&bench));
    let mut delay = FakeDelay(&bench);
    assert_eq!(
        *bench.log.borrow(),
        [Event::Duty(2944)],
        "no wait to attach"
    );

    // 90 -> 0: 90 steps of 15 ms, each one degree, each write followed by its wait.
    bench.log.borrow_mut().clear();
    let Ok(()) = servo.sweep(0, &mut delay, STEP_DELAY_MS);
    assert_eq!(bench.elapsed_ns(), 90 * 15_000_000);
    let log = bench.log.borrow().clone();
    let duties: Vec<u16> = log
        .iter()
        .filter_map(|e| match e {
            Event::Duty(d) => Some(*d),
            Event::Wait(_) => None,
        })
        .collect();
    assert_eq!(duties.len(), 90);
    assert_eq!(duties.last(), Some(&1088), "0 degrees: 544 µs");
    let mut prev = 2944;
    for (i, d) in duties.iter().enumerate() {
        // One degree is 10.3 µs: 20 or 22 ticks of 0.5 µs.
        assert!(prev - d == 20 || prev - d == 22, "step {i}: {prev} -> {d}");
        prev = *d;
    }
    // The waits are what DelayNs was asked for (15 ms, in whatever unit it splits them)
    // and always come after a write, never before the first one.
    assert!(matches!(log[0], Event::Duty(_)));
    assert!(matches!(log.last(), Some(Event::Wait(_))));

    // 0 -> 180 at a 20 ms step: 3.6 s.
    bench.log.borrow_mut().clear();
    let Ok(()) = servo.sweep(180, &mut delay, 20);
    assert_eq!(bench.elapsed_ns(), 180 * 20_000_000);
    assert_eq!(servo.angle(), 180);

    // Already there: no time at all.
    bench.log.borrow_mut().clear();
    let Ok(()) = servo.sweep(180, &mut delay, 20);
    assert!(bench.log.borrow().is_empty());
}
