/*
 * The servo's view of the firmware: dist/firmware.elf on an ATmega328P at 16 MHz in
 * simavr (libsimavr 1.6), with its USART0 on a pseudo-terminal and what the servo and the
 * UART see printed on stdout, one event a line, for tests/firmware_simavr.rs to check:
 *
 *   ready PTY              the UART is on this pty (open it, 115200 8N1)
 *   w CYCLE REG VALUE      the firmware wrote REG (DDRB, TCCR1A, TCCR1B, TCNT1, ICR1, OCR1A,
 *                          UCSR0A, UCSR0B, UCSR0C, UBRR0); 16-bit registers when their low
 *                          byte is written (that write commits both, datasheet 15.3)
 *   rise CYCLE, fall CYCLE pin 9 (PB1) changed level, as simavr drives it
 *   tx TOTAL               the UART has sent TOTAL bytes so far; printed (and stdout
 *                          flushed) before they are written to the pty, so a reader that
 *                          got N bytes from the pty and then sees "tx" >= N has every
 *                          event that came before them
 *   stop CYCLE STATE       the CPU stopped (crashed or sleeping for good)
 *
 * It does not judge anything: widths are derived from the register writes by the test
 * (simavr 1.6 drops the pin a few cycles after BOTTOM in fast PWM mode 14, whatever OCR1A
 * holds, so its pin edges give the frame, not the pulse width).
 *
 * Usage: harness FIRMWARE.elf [SPEED]   SPEED: emulated seconds per real second (default
 * 1; 0 runs flat out). Runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_io.h>
#include <sim_irq.h>
#include <avr_ioport.h>
#include <avr_uart.h>

#define F_CPU 16000000UL

static avr_t *avr;

/* ---- register writes ---- */

struct watch {
	const char *name;
	avr_io_addr_t addr;     /* the byte whose write is reported */
	avr_io_addr_t high;     /* its high byte (16-bit registers), or 0 */
	avr_io_write_t orig;    /* simavr's own handler, called first */
	void *orig_param;
};

/* ATmega328P data-space addresses (datasheet, section 30: register summary) */
static struct watch watches[] = {
	{ "DDRB", 0x24, 0, 0, 0 },
	{ "TCCR1A", 0x80, 0, 0, 0 },
	{ "TCCR1B", 0x81, 0, 0, 0 },
	{ "TCNT1", 0x84, 0x85, 0, 0 },
	{ "ICR1", 0x86, 0x87, 0, 0 },
	{ "OCR1A", 0x88, 0x89, 0, 0 },
	{ "UCSR0A", 0xC0, 0, 0, 0 },
	{ "UCSR0B", 0xC1, 0, 0, 0 },
	{ "UCSR0C", 0xC2, 0, 0, 0 },
	{ "UBRR0", 0xC4, 0xC5, 0, 0 },
};

static void on_write(struct avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
	struct watch *w = param;
	if (w->orig)
		w->orig(a, addr, v, w->orig_param);
	else
		a->data[addr] = v;
	unsigned value = v;
	if (w->high)
		value = v | (unsigned)a->data[w->high] << 8;
	printf("w %llu %s %u\n", (unsigned long long)a->cycle, w->name, value);
}

static void watch_writes(void)
{
	for (size_t i = 0; i < sizeof watches / sizeof watches[0]; i++) {
		struct watch *w = &watches[i];
		int io = AVR_DATA_TO_IO(w->addr);
		/* wrap whatever simavr put there (no shared-IO slots used) */
		w->orig = avr->io[io].w.c;
		w->orig_param = avr->io[io].w.param;
		avr->io[io].w.c = on_write;
		avr->io[io].w.param = w;
	}
}

/* ---- pin 9 ---- */

static int pin_level = -1;

static void on_pin(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq;
	(void)param;
	int level = value != 0;
	if (level != pin_level) {
		pin_level = level;
		printf("%s %llu\n", level ? "rise" : "fall", (unsigned long long)avr->cycle);
	}
}

/* ---- the UART on a pty ---- */

static int master = -1;
static avr_irq_t *uart_in;
static int uart_room = 1;       /* simavr's receive FIFO has room (its XON/XOFF) */
static uint8_t out[1 << 16];    /* from the AVR, not yet written to the pty */
static size_t out_len;
static unsigned long long out_total, out_said;

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq; (void)value; (void)param;
	uart_room = 1;
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq; (void)value; (void)param;
	uart_room = 0;
}

static void on_tx(struct avr_irq_t *irq, uint32_t value, void *param)
{
	(void)irq; (void)param;
	if (out_len < sizeof out) {
		out[out_len++] = (uint8_t)value;
		out_total++;
	}
}

static void open_pty(void)
{
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		perror("harness: pty");
		exit(1);
	}
	const char *name = ptsname(master);
	/* the slave raw (no echo of what the AVR sends back into it), and held open so the
	 * master never reads EIO between the users of the slave */
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;
	if (slave < 0 || tcgetattr(slave, &t)) {
		perror("harness: pty slave");
		exit(1);
	}
	cfmakeraw(&t);
	cfsetspeed(&t, B115200);
	tcsetattr(slave, TCSANOW, &t);
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	printf("ready %s\n", name);
}

static uint8_t in[256];         /* from the pty, not yet given to the AVR */
static size_t in_len, in_at;

static void pump_uart(void)
{
	if (out_len) {
		if (out_said != out_total) {
			out_said = out_total;
			printf("tx %llu\n", out_total);
			fflush(stdout);
		}
		ssize_t n = write(master, out, out_len);
		if (n > 0) {
			memmove(out, out + n, out_len - (size_t)n);
			out_len -= (size_t)n;
		}
	}
	if (in_at == in_len) {
		ssize_t n = read(master, in, sizeof in);
		in_at = 0;
		in_len = n > 0 ? (size_t)n : 0;
	}
	/* one byte at a time while the FIFO has room: simavr delivers them at the baud rate */
	while (in_at < in_len && uart_room) {
		avr_raise_irq(uart_in, in[in_at++]);
	}
}

/* ---- pace ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: harness FIRMWARE.elf [SPEED]\n");
		return 64;
	}
	double speed = argc > 2 ? atof(argv[2]) : 1.0;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	elf_firmware_t f;
	memset(&f, 0, sizeof f);
	if (elf_read_firmware(argv[1], &f)) {
		fprintf(stderr, "harness: cannot read %s\n", argv[1]);
		return 66;
	}
	avr = avr_make_mcu_by_name("atmega328p");
	if (!avr) {
		fprintf(stderr, "harness: simavr has no atmega328p\n");
		return 69;
	}
	avr_init(avr);
	avr->log = LOG_ERROR;
	avr_load_firmware(avr, &f);
	avr->frequency = F_CPU;

	watch_writes();
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), IOPORT_IRQ_PIN1),
				on_pin, NULL);
	uint32_t flags = 0;     /* no console echo, no sleeping on polls: cycles stay exact */
	avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
	uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
				on_tx, NULL);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
				on_xon, NULL);
	avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
				on_xoff, NULL);
	open_pty();
	fflush(stdout);

	double start = now_s();
	avr_cycle_count_t next = 0;
	for (;;) {
		int state = avr_run(avr);
		if (state == cpu_Done || state == cpu_Crashed) {
			printf("stop %llu %d\n", (unsigned long long)avr->cycle, state);
			fflush(stdout);
			return 1;
		}
		if (avr->cycle < next)
			continue;
		/* every 100 µs of AVR time: the pty, the output, the pace */
		next = avr->cycle + F_CPU / 10000;
		fflush(stdout);
		pump_uart();
		if (speed > 0) {
			double ahead = (double)avr->cycle / F_CPU / speed - (now_s() - start);
			if (ahead > 0.002)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
}
