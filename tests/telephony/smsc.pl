#!/usr/bin/perl
# An SMSC for tests, independent of Telex's code: Debian's libnet-smpp-perl (Net::SMPP) does the
# PDU encoding and decoding. Listens on 127.0.0.1 only, serves one ESME connection at a time.
#
#   perl smsc.pl --port P [--system-id acs --password secret] [--throttle N] [--die-after N]
#                [--id-prefix A] [--mo] [--log FILE]
#
#   bind_*        credentials checked; a wrong password is answered ESME_RINVPASWD (0x0E)
#   submit_sm     answered with message id <prefix><8 hex digits>; more than N in one second with
#                 --throttle N: ESME_RTHROTTLED (0x58); with registered_delivery a receipt follows
#                 (deliver_sm, esm_class 0x04, text + receipted_message_id + message_state TLVs;
#                 a destination ending in 0000 is UNDELIV)
#   --die-after N after answering N submit_sm, the next one makes the process exit unanswered
#   --mo          after a bind: MO "STOP" (GSM), "Hola 👋" (UCS-2) and a two-part MO with a UDH
#   --log FILE    one tab-separated line per PDU received (see the print statements)
# Prints "LISTENING <port>" on stdout once it accepts connections.
use strict;
use warnings;
use Getopt::Long;
use IO::Handle;
use Net::SMPP;
use POSIX qw(strftime);
use Time::HiRes qw(time);

my %opt = (port => 2775, 'system-id' => 'acs', password => 'secret', throttle => 0, 'die-after' => 0,
           'id-prefix' => '', mo => 0, log => '');
GetOptions(\%opt, 'port=i', 'system-id=s', 'password=s', 'throttle=i', 'die-after=i', 'id-prefix=s', 'mo',
           'log=s') or die "bad options\n";
STDOUT->autoflush(1);
my $log = \*STDERR;
if ($opt{log}) { open($log, '>>', $opt{log}) or die "log: $!"; }
$log->autoflush(1);

my $listener = Net::SMPP->new_listen('127.0.0.1', port => $opt{port}, smpp_version => 0x34)
    or die "listen: $!";
print "LISTENING $opt{port}\n";
my $answered = 0;
my $next_id = 0;
while (1) {
    my $esme = $listener->accept or next;
    serve($esme);
    close $esme;
}

sub hex_of { return unpack('H*', $_[0] // ''); }

sub serve {
    my ($esme) = @_;
    my @recent;
    while (my $pdu = $esme->read_pdu()) {
        my $cmd = $pdu->{cmd};
        if ($cmd == 0x09 || $cmd == 0x02 || $cmd == 0x01) {
            my $ok = ($pdu->{system_id} // '') eq $opt{'system-id'} && ($pdu->{password} // '') eq $opt{password};
            my $resp = { 0x09 => 'bind_transceiver_resp', 0x02 => 'bind_transmitter_resp', 0x01 => 'bind_receiver_resp' }->{$cmd};
            $esme->$resp(seq => $pdu->{seq}, status => $ok ? 0 : 0x0E, system_id => 'PERLSMSC');
            print $log join("\t", 'BIND', $pdu->{system_id} // '', $ok ? 1 : 0), "\n";
            send_mo($esme) if $ok && $opt{mo};
        } elsif ($cmd == 0x04) {
            if ($opt{'die-after'} && $answered >= $opt{'die-after'}) {
                print $log "DIE\n";
                exit 0;
            }
            my $now = time;
            @recent = grep { $now - $_ < 1.0 } @recent;
            my $sar = defined $pdu->{0x020C}
                ? join('/', unpack('n', $pdu->{0x020C}), ord($pdu->{0x020E}), ord($pdu->{0x020F})) : '-';
            my $payload = defined $pdu->{0x0424} ? hex_of($pdu->{0x0424}) : '-';
            my @fields = ($pdu->{seq}, $pdu->{source_addr_ton}, $pdu->{source_addr}, $pdu->{dest_addr_ton},
                          $pdu->{destination_addr}, $pdu->{esm_class}, $pdu->{data_coding},
                          $pdu->{registered_delivery}, hex_of($pdu->{short_message}), $sar, $payload);
            if ($opt{throttle} && @recent >= $opt{throttle}) {
                $esme->submit_sm_resp(seq => $pdu->{seq}, status => 0x58, message_id => '');
                print $log join("\t", 'THROTTLED', @fields), "\n";
                next;
            }
            push @recent, $now;
            $answered++;
            my $id = sprintf('%s%08X', $opt{'id-prefix'}, ++$next_id);
            $esme->submit_sm_resp(seq => $pdu->{seq}, message_id => $id);
            print $log join("\t", 'SUBMIT', $id, @fields), "\n";
            send_receipt($esme, $pdu, $id) if $pdu->{registered_delivery} & 1;
        } elsif ($cmd == 0x80000005) {
            print $log join("\t", 'DELIVER_SM_RESP', $pdu->{seq}, $pdu->{status}), "\n";
        } elsif ($cmd == 0x15) {
            $esme->enquire_link_resp(seq => $pdu->{seq});
            print $log join("\t", 'ENQUIRE_LINK', $pdu->{seq}), "\n";
        } elsif ($cmd == 0x06) {
            $esme->unbind_resp(seq => $pdu->{seq});
            print $log "UNBIND\n";
            return;
        } elsif ($cmd & 0x80000000) {
            print $log join("\t", 'RESPONSE', sprintf('0x%08X', $cmd), $pdu->{status}), "\n";
        } else {
            $esme->generic_nack(seq => $pdu->{seq}, status => 0x03);
            print $log join("\t", 'NACK', sprintf('0x%08X', $cmd)), "\n";
        }
    }
    print $log "CLOSED\n";
}

sub send_receipt {
    my ($esme, $pdu, $id) = @_;
    my $failed = $pdu->{destination_addr} =~ /0000$/;
    my $date = strftime('%y%m%d%H%M', gmtime);
    my $text = substr($pdu->{short_message} // '', ($pdu->{esm_class} & 0x40) ? 6 : 0, 20);
    $text =~ s/[^\x20-\x7e]/./g;
    my $body = sprintf('id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:%s',
                       $id, $failed ? '000' : '001', $date, $date, $failed ? 'UNDELIV' : 'DELIVRD',
                       $failed ? '001' : '000', $text);
    $esme->deliver_sm(async => 1, esm_class => 0x04, data_coding => 0, short_message => $body,
                      source_addr_ton => $pdu->{dest_addr_ton}, source_addr_npi => $pdu->{dest_addr_npi},
                      source_addr => $pdu->{destination_addr}, dest_addr_ton => $pdu->{source_addr_ton},
                      dest_addr_npi => $pdu->{source_addr_npi}, destination_addr => $pdu->{source_addr},
                      receipted_message_id => "$id\0", message_state => pack('C', $failed ? 5 : 2));
}

sub send_mo {
    my ($esme) = @_;
    my %to = (source_addr_ton => 1, source_addr_npi => 1, dest_addr_ton => 1, dest_addr_npi => 1,
              destination_addr => '14255550100');
    $esme->deliver_sm(async => 1, %to, source_addr => '14255550123', esm_class => 0, data_coding => 0,
                      short_message => 'STOP');
    # "Hola " then U+1F44B WAVING HAND SIGN as a UTF-16 surrogate pair
    $esme->deliver_sm(async => 1, %to, source_addr => '14255550124', esm_class => 0, data_coding => 8,
                      short_message => "\x00H\x00o\x00l\x00a\x00 \xd8\x3d\xdc\x4b");
    for my $part ([1, 'First half, '], [2, 'second half.']) {
        $esme->deliver_sm(async => 1, %to, source_addr => '14255550125', esm_class => 0x40, data_coding => 0,
                          short_message => pack('C6', 5, 0, 3, 0x2A, 2, $part->[0]) . $part->[1]);
    }
}
