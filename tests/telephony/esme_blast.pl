#!/usr/bin/perl
# A bare ESME on Debian's Net::SMPP that submits as fast as an SMSC answers: bind, then keep
# WINDOW submit_sm outstanding until COUNT are answered. bench/sms.py runs it to measure the
# SMSC's own ceiling beside Telex's client.
#   perl esme_blast.pl PORT COUNT WINDOW   ->  prints "<answered> <seconds from first submit>"
use strict;
use warnings;
use Net::SMPP;
use Time::HiRes qw(time);

my ($port, $count, $window) = @ARGV;
my $esme = Net::SMPP->new_connect('127.0.0.1', port => $port, smpp_version => 0x34, async => 1)
    or die "connect: $!";
$esme->bind_transceiver(system_id => 'acs', password => 'secret');
my $bound = $esme->read_pdu() or die "no bind_resp";
die "bind refused: $bound->{status}\n" if $bound->{status};
my ($sent, $answered) = (0, 0);
my $start = time;
while ($answered < $count) {
    while ($sent < $count && $sent - $answered < $window) {
        $esme->submit_sm(source_addr_ton => 1, source_addr_npi => 1, source_addr => '14255550100',
                         dest_addr_ton => 1, dest_addr_npi => 1, destination_addr => '14255550123',
                         short_message => "bench message $sent");
        $sent++;
    }
    my $pdu = $esme->read_pdu() or die "connection lost";
    $answered++ if $pdu->{cmd} == 0x80000004 && $pdu->{status} == 0;
}
printf "%d %.6f\n", $answered, time - $start;
$esme->unbind();
$esme->read_pdu();
