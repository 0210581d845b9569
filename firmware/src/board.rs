//! The board layer (Arduino UNO: ATmega328P at 16 MHz), written over avr-device's registers:
//! USART0 with an interrupt-driven receive queue, Timer1 PWM on pin 9, a busy-wait delay.
//!
//! Everything here is lock-free on purpose: the receive interrupt and the main loop share
//! only `angle::rx::RxQueue`, whose every shared word is a byte read or written with one
//! instruction, so the main loop never disables interrupts (QEMU delivers interrupts only
//! between translated blocks: a loop that keeps them off most of the time never receives).

use core::convert::Infallible;

use angle::rx::{Consumer, Producer, Rx, RxQueue};
use avr_device::atmega328p::{PORTB, TC1, USART0};
use embedded_hal::delay::DelayNs;
use embedded_hal::pwm::{ErrorType, SetDutyCycle};

/// The CPU clock.
pub const F_CPU: u32 = 16_000_000;

// USART0 bits (ATmega328P datasheet, section 20.11).
const RXC0: u8 = 1 << 7;
const UDRE0: u8 = 1 << 5;
const FE0: u8 = 1 << 4;
const DOR0: u8 = 1 << 3;
const U2X0: u8 = 1 << 1;
const RXCIE0: u8 = 1 << 7;
const RXEN0: u8 = 1 << 4;
const TXEN0: u8 = 1 << 3;
const UCSZ0_8BIT: u8 = 0b11 << 1;

/// 115200 baud with U2X: 16 MHz / (8 × (16 + 1)) = 117,647 baud (+2.1 %), as the Arduino
/// core and bootloader do.
const UBRR_115200_U2X: u16 = 16;

/// The receive buffer: 64 bytes (the spec asks for at least 64), enough for a burst of
/// short commands sent while the servo sweeps.
const RX_BYTES: usize = 64;

/// Unmangled, so a debugger or the emulator test finds it by name (its counters are at
/// fixed offsets: `angle::rx::RxQueue` is `repr(C)`).
#[unsafe(no_mangle)]
static mut RX_QUEUE: RxQueue<RX_BYTES> = RxQueue::new();
/// The interrupt's end of the queue; set once before interrupts are enabled.
static mut RX_PRODUCER: Option<Producer<'static, RX_BYTES>> = None;

/// USART0: 115200 baud 8N1, receive by interrupt into the queue, transmit by polling.
pub struct Serial {
    usart: USART0,
    rx: Consumer<'static, RX_BYTES>,
}

impl Serial {
    /// Set up the port and the queue. Interrupts must still be off; the receive interrupt
    /// runs once they are enabled.
    pub fn new(usart: USART0) -> Self {
        // SAFETY: called once, before interrupts are enabled: nothing else can see the
        // queue or the producer yet.
        let rx = unsafe {
            let queue: *mut RxQueue<RX_BYTES> = &raw mut RX_QUEUE;
            let (producer, consumer) = (*queue).split();
            let slot: *mut Option<Producer<'static, RX_BYTES>> = &raw mut RX_PRODUCER;
            *slot = Some(producer);
            consumer
        };
        usart.ubrr0().write(|w| w.set(UBRR_115200_U2X));
        usart.ucsr0a().write(|w| unsafe { w.bits(U2X0) });
        usart.ucsr0c().write(|w| unsafe { w.bits(UCSZ0_8BIT) });
        usart
            .ucsr0b()
            .write(|w| unsafe { w.bits(RXCIE0 | RXEN0 | TXEN0) });
        Serial { usart, rx }
    }

    /// The next received byte or loss, if any (never blocks, never disables interrupts).
    pub fn read(&mut self) -> Option<Rx> {
        self.rx.pop()
    }

    /// Send bytes, waiting for room in the transmit register (interrupts stay on).
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while self.usart.ucsr0a().read().bits() & UDRE0 == 0 {}
            self.usart.udr0().write(|w| unsafe { w.bits(b) });
        }
    }
}

// The receive interrupt: one byte into the queue, or a loss recorded.
#[avr_device::interrupt(atmega328p)]
fn USART_RX() {
    // SAFETY: UDR0 is read only here; UCSR0A is also polled by `Serial::write`, reading
    // it has no side effect.
    let usart = unsafe { &*USART0::ptr() };
    let status = usart.ucsr0a().read().bits();
    if status & RXC0 == 0 {
        return;
    }
    let byte = usart.udr0().read().bits();
    // SAFETY: only this interrupt uses the producer, and it cannot preempt itself; the
    // producer was set before interrupts were enabled.
    let slot: *mut Option<Producer<'static, RX_BYTES>> = &raw mut RX_PRODUCER;
    let Some(producer) = (unsafe { &mut *slot }) else {
        return;
    };
    if status & (DOR0 | FE0) != 0 {
        // The UART overran (a byte before this one is gone) or the byte is garbled.
        producer.lose();
    } else {
        producer.push(byte);
    }
}

// Timer1 bits (datasheet, section 15.11).
const COM1A1: u8 = 1 << 7;
const WGM11: u8 = 1 << 1;
const WGM13: u8 = 1 << 4;
const WGM12: u8 = 1 << 3;
const CS11: u8 = 1 << 1;
const PB1: u8 = 1 << 1;

/// Timer1 ticks in one 20 ms frame: 16 MHz / 8 = 2 MHz.
pub const FRAME_TICKS: u16 = 40_000;

/// Timer1 fast PWM (mode 14, TOP = ICR1) at 50 Hz on OC1A = PB1 = Arduino pin 9.
/// A duty cycle is in timer ticks of 0.5 µs: `n` keeps the pin high for `n` ticks.
pub struct ServoPwm {
    tc1: TC1,
}

impl ServoPwm {
    pub fn new(tc1: TC1, portb: &PORTB) -> Self {
        tc1.icr1().write(|w| w.set(FRAME_TICKS - 1));
        tc1.ocr1a().write(|w| w.set(0));
        tc1.tccr1a().write(|w| unsafe { w.bits(WGM11) });
        tc1.tccr1b()
            .write(|w| unsafe { w.bits(WGM13 | WGM12 | CS11) });
        portb
            .ddrb()
            .modify(|r, w| unsafe { w.bits(r.bits() | PB1) });
        ServoPwm { tc1 }
    }
}

impl ErrorType for ServoPwm {
    type Error = Infallible;
}

impl SetDutyCycle for ServoPwm {
    fn max_duty_cycle(&self) -> u16 {
        FRAME_TICKS
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        if duty == 0 {
            // Fully off: disconnect OC1A, the pin stays low.
            self.tc1.tccr1a().write(|w| unsafe { w.bits(WGM11) });
        } else {
            // High from BOTTOM through OCR1A inclusive: OCR1A + 1 ticks.
            let ocr = duty.min(FRAME_TICKS) - 1;
            self.tc1.ocr1a().write(|w| w.set(ocr));
            self.tc1
                .tccr1a()
                .write(|w| unsafe { w.bits(COM1A1 | WGM11) });
        }
        Ok(())
    }
}

/// A busy-wait delay (interrupts stay on, so it runs a little long while bytes arrive).
/// Never the `sleep` instruction: QEMU does not wake from it.
pub struct Delay;

const CYCLES_PER_US: u32 = F_CPU / 1_000_000;

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        avr_device::asm::delay_cycles(
            ns / 1000 * CYCLES_PER_US + (ns % 1000) * CYCLES_PER_US / 1000,
        );
    }

    fn delay_us(&mut self, us: u32) {
        // In slices of 1 ms so the cycle count never overflows.
        let mut left = us;
        while left > 1000 {
            avr_device::asm::delay_cycles(1000 * CYCLES_PER_US);
            left -= 1000;
        }
        avr_device::asm::delay_cycles(left * CYCLES_PER_US);
    }

    fn delay_ms(&mut self, ms: u32) {
        for _ in 0..ms {
            avr_device::asm::delay_cycles(1000 * CYCLES_PER_US);
        }
    }
}
