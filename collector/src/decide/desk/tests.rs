use super::*;
use crate::decide::alert::Level;
use crate::decide::health::{Failure, ProbeResult};
use crate::decide::window::Bucket;
use faultline_flush::{Flush, ServiceCounters, VERSION};
use std::sync::Arc;

const CRIT: Condition = Condition { down: false, level: Level::Critical };

fn cfg(extra: &str) -> Arc<Config> {
    let reminder = if extra.contains("reminder") { "" } else { "reminder = \"0s\"\n" };
    let src = format!(
        "window = \"60s\"\nbucket = \"1s\"\n{reminder}min_requests = 10\n{extra}\n\
         [[tokens]]\ntoken = \"tok-tok-tok\"\n[webhooks]\ndefault = \"http://127.0.0.1:1/api/webhooks/1/t\"\n\
         [[services]]\nname = \"be\"\nhealth_url = \"http://127.0.0.1:2/\"\ninterval = \"5s\"\ntimeout = \"1s\"\n\
         [[services]]\nname = \"ai\"\n"
    );
    Arc::new(Config::parse(std::path::Path::new("t.toml"), &src).unwrap())
}

/// What was persisted: the engine's and the desk's rows, as a store would keep them.
#[derive(Default)]
struct Disk {
    services: BTreeMap<String, crate::decide::engine::ServiceState>,
    buckets: BTreeMap<(String, u64), Bucket>,
    baselines: BTreeMap<(String, String), crate::decide::ledger::Baseline>,
    incidents: BTreeMap<String, Tracked>,
    queues: BTreeMap<String, Queue>,
    silences: BTreeMap<u64, Silence>,
    last_silence: u64,
}

/// A proxy flushing `be` and `ai` every second, the 1 s timer, and the desk over the engine.
struct Sim {
    cfg: Arc<Config>,
    e: Engine,
    d: Desk,
    disk: Disk,
    t: u64,
    seq: u64,
    counts: BTreeMap<&'static str, (u64, u64)>,
    rows: Rows,
}

impl Sim {
    fn new(extra: &str) -> Sim {
        let cfg = cfg(extra);
        let t = 1_000;
        Sim {
            e: Engine::restore(cfg.clone(), t, vec![], vec![], BTreeMap::new()),
            d: Desk::default(),
            disk: Disk::default(),
            cfg,
            t,
            seq: 0,
            counts: BTreeMap::new(),
            rows: Rows::new(),
        }
    }

    /// `secs` seconds at `rps` requests and `eps` 5xx per second for each listed service.
    fn run(&mut self, secs: u64, rates: &[(&'static str, u64, u64)]) -> Rows {
        let mut out = Rows::new();
        for _ in 0..secs {
            self.t += 1_000;
            self.seq += 1;
            let mut services = Vec::new();
            for (name, rps, eps) in rates {
                let c = self.counts.entry(name).or_default();
                *c = (c.0 + rps, c.1 + eps);
                services.push(ServiceCounters {
                    name: (*name).into(),
                    responses: c.0,
                    status_4xx: 0,
                    status_5xx: c.1,
                    no_response: 0,
                    unreachable: 0,
                    exemplars: vec![],
                    routes: vec![],
                });
            }
            let f = Flush {
                version: VERSION,
                proxy_id: "edge".into(),
                boot_id: "boot".into(),
                boot_ms: 0,
                seq: self.seq,
                sent_ms: self.t,
                services,
                refusals: vec![],
            };
            let notices = self.e.ingest(&f, self.t).unwrap().notices;
            out.extend(self.d.route(&self.cfg, &self.e, notices, self.t));
            let notices = self.e.tick(self.t);
            out.extend(self.d.route(&self.cfg, &self.e, notices, self.t));
            out.extend(self.d.tick(&self.cfg, &self.e, self.t));
        }
        self.rows.extend(out.clone());
        out
    }

    fn probe(&mut self, ok: bool) -> Rows {
        let failure = (!ok).then_some(Failure::Refused);
        let n = self.e.probe("be", ProbeResult { at_ms: self.t, latency_ms: 1, failure, status: None });
        let rows = self.d.route(&self.cfg, &self.e, n.into_iter().collect(), self.t);
        self.rows.extend(rows.clone());
        rows
    }

    /// The collector stops for `secs` and starts again on what it wrote.
    fn restart_after(&mut self, secs: u64) {
        let snap = self.e.take_snapshot(self.t);
        for (k, v) in snap.ledger {
            match v {
                Some(b) => self.disk.baselines.insert(k, b),
                None => self.disk.baselines.remove(&k),
            };
        }
        for (n, s) in snap.services {
            self.disk.services.insert(n, s);
        }
        for (n, b) in snap.buckets {
            self.disk.buckets.insert((n, b.start_ms), b);
        }
        let c = self.d.take_changes();
        for (k, v) in c.incidents {
            match v {
                Some(t) => self.disk.incidents.insert(k, t),
                None => self.disk.incidents.remove(&k),
            };
        }
        for (k, v) in c.queues {
            match v {
                Some(q) => self.disk.queues.insert(k, q),
                None => self.disk.queues.remove(&k),
            };
        }
        for (k, v) in c.silences {
            match v {
                Some(s) => self.disk.silences.insert(k, s),
                None => self.disk.silences.remove(&k),
            };
        }
        self.disk.last_silence = c.last_silence_id.unwrap_or(self.disk.last_silence);
        let proxies = self.e.proxies().clone().into_iter().collect();
        self.t += secs * 1_000;
        let mut buckets: BTreeMap<String, Vec<Bucket>> = BTreeMap::new();
        for ((n, _), b) in &self.disk.buckets {
            buckets.entry(n.clone()).or_default().push(b.clone());
        }
        let base = self.disk.baselines.clone().into_iter().collect();
        let services = self.disk.services.clone().into_iter().collect();
        self.e = Engine::restore(self.cfg.clone(), self.t, base, services, buckets);
        self.e.resume_proxies(proxies);
        self.d = Desk::restore(
            self.disk.incidents.clone().into_iter().collect(),
            self.disk.queues.clone().into_iter().collect(),
            self.disk.silences.values().cloned().collect(),
            self.disk.last_silence,
        );
    }

    fn silence(&mut self, service: &str, for_: &str) -> Silence {
        let n = NewSilence { service: Some(service.into()), for_: Some(for_.into()), ..NewSilence::default() };
        let e = &self.e;
        self.d.add_silence(&n, self.t, |s| e.services().contains_key(s)).unwrap()
    }
}

fn posts(rows: &Rows) -> Vec<&PostEvent> {
    rows.iter()
        .filter_map(|(_, n)| match &n.event {
            Event::Post(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn edits<'a>(rows: &'a Rows, service: &str) -> Vec<&'a LivingEvent> {
    rows.iter()
        .filter(|(_, n)| n.service == service)
        .filter_map(|(_, n)| match &n.event {
            Event::Living(l) => Some(l),
            _ => None,
        })
        .collect()
}

/// Each post's items as `service change-kind severity-after`.
fn said(rows: &Rows) -> Vec<Vec<String>> {
    posts(rows)
        .iter()
        .map(|p| {
            p.items
                .iter()
                .map(|i| match &i.notice.event {
                    Event::Incident(e) => {
                        format!("{} {} {}", i.notice.service, kind(&e.change), e.change.after().severity().name())
                    }
                    _ => String::new(),
                })
                .collect()
        })
        .collect()
}

const OK: [(&str, u64, u64); 2] = [("be", 100, 0), ("ai", 100, 0)];

#[test]
fn two_services_failing_within_the_group_wait_page_once_and_the_first_waits_at_most_the_wait() {
    let mut s = Sim::new("[notify.default]\nurgent_wait = \"3s\"\n");
    s.run(5, &OK);
    let mut rows = s.run(1, &[("be", 100, 100), ("ai", 100, 0)]);
    let opened_at = s.e.services()["be"].incident.as_ref().unwrap().opened_ms;
    rows.extend(s.run(1, &[("be", 100, 100), ("ai", 100, 100)]));
    assert!(posts(&rows).is_empty() && edits(&rows, "be").is_empty(), "held for the group wait: {rows:?}");
    // A group holding a CRITICAL is due at most the urgent wait (3 s here) after its first change.
    while s.t < opened_at + 2_000 {
        assert!(posts(&s.run(1, &[("be", 100, 100), ("ai", 100, 100)])).is_empty(), "at {}", s.t - opened_at);
    }
    let rows = s.run(1, &[("be", 100, 100), ("ai", 100, 100)]);
    assert_eq!(s.t - opened_at, 3_000);
    assert_eq!(said(&rows), [["be opened CRITICAL", "ai opened CRITICAL"]]);
    assert_eq!(rows.len(), 1, "one message, no edit: it is both incidents' living message");
    // Later changes edit the living messages at once; a new notifying change starts a new group.
    let rows = s.run(70, &[("be", 100, 0), ("ai", 100, 100)]);
    assert!(!edits(&rows, "be").is_empty(), "be's living message follows the rate down");
    assert!(posts(&rows).iter().all(|p| p.items.iter().all(|i| i.notice.service == "be")));
}

#[test]
fn without_a_group_wait_each_change_goes_out_at_once_and_a_change_undone_within_the_wait_is_not_told() {
    let mut s = Sim::new("[notify.default]\ngroup_wait = \"0s\"\n");
    s.run(5, &OK);
    let rows = s.run(2, &[("be", 100, 100)]);
    assert_eq!(said(&rows), [["be opened CRITICAL"]]);
    let mut s = Sim::new("[notify.default]\nurgent_wait = \"3s\"\n");
    s.run(15, &[("be", 100, 100)]);
    assert_eq!(said(&s.rows), [["be opened CRITICAL"]]);
    // DOWN and UP again within the (urgent) group wait: the living message shows it, nobody is paged.
    s.probe(false);
    s.run(1, &[("be", 100, 100)]);
    s.probe(true);
    let rows = s.run(12, &[("be", 100, 100)]);
    let all = s.rows.clone();
    assert_eq!(said(&all).len(), 1, "{:?}", said(&all));
    let steps = &edits(&all, "be").last().unwrap().timeline;
    assert!(steps.iter().any(|st| matches!(st, Step::Change { kind, to, .. } if kind == "worse" && to.down)));
    assert!(edits(&rows, "be").len() <= 1);
}

#[test]
fn a_silence_mid_incident_withholds_and_its_end_announces_the_incident_once() {
    let mut s = Sim::new("[notify.default]\ngroup_wait = \"0s\"\n");
    s.run(3, &[("be", 100, 6)]);
    assert_eq!(said(&s.rows), [["be opened WARNING"]]);
    let sil = s.silence("be", "30s");
    let rows = s.run(2, &[("be", 100, 6)]);
    let e = edits(&rows, "be");
    assert!(matches!(e.last().unwrap().mute, Some(Mute::Silence { id, .. }) if id == sil.id), "shown: {e:?}");
    // Worse under the silence: edited, not notified.
    let rows = s.run(5, &[("be", 100, 100)]);
    assert!(posts(&rows).is_empty(), "{:?}", said(&rows));
    assert_eq!(edits(&rows, "be").last().unwrap().now, CRIT);
    // The silence ends (30 s after it began): the incident is told once, as it stands.
    let rows = s.run(30, &[("be", 100, 100)]);
    let p = posts(&rows);
    assert_eq!(said(&rows), [["be worse CRITICAL"]]);
    assert!(matches!(p[0].items[0].unmuted, Some(Mute::Silence { .. })));
    assert!(posts(&s.run(10, &[("be", 100, 100)])).is_empty(), "once");
}

#[test]
fn an_incident_opened_under_a_silence_gets_a_silent_living_message_and_is_told_when_it_ends_even_after_a_restart() {
    let mut s = Sim::new("[notify.default]\ngroup_wait = \"0s\"\n");
    s.run(5, &OK);
    s.silence("be", "20s");
    let rows = s.run(3, &[("be", 100, 100)]);
    assert!(posts(&rows).is_empty());
    assert_eq!(edits(&rows, "be").len(), 1, "its living message, posted silently");
    s.restart_after(2);
    assert_eq!(s.d.silences().len(), 1, "the silence survives the restart");
    let rows = s.run(20, &[("be", 100, 100)]);
    assert_eq!(said(&rows), [["be opened CRITICAL"]]);
    // Ended under a silence: nothing told afterwards.
    let mut s = Sim::new("[notify.default]\ngroup_wait = \"0s\"\n");
    s.run(5, &OK);
    s.silence("be", "120s");
    s.run(3, &[("be", 100, 100)]);
    let rows = s.run(130, &[("be", 100, 0)]);
    assert!(posts(&rows).is_empty(), "{:?}", said(&rows));
    assert!(edits(&rows, "be").last().unwrap().end.is_some(), "its living message says it ended");
}

#[test]
fn an_acknowledgement_stops_reminders_until_it_gets_worse_and_survives_a_restart() {
    let mut s = Sim::new("reminder = \"20s\"\n[notify.default]\ngroup_wait = \"0s\"\n");
    s.run(25, &[("be", 100, 6)]);
    assert_eq!(said(&s.rows), [vec!["be opened WARNING"], vec!["be reminder WARNING"]]);
    let (ack, rows) = s.d.ack(&s.e, "be", "alice", s.t).unwrap();
    assert_eq!((ack.by.as_str(), ack.severity), ("alice", Severity::Warning));
    assert_eq!(edits(&rows, "be").last().unwrap().ack.as_ref().map(|a| a.by.as_str()), Some("alice"));
    s.restart_after(1);
    let rows = s.run(45, &[("be", 100, 6)]);
    assert!(posts(&rows).is_empty(), "no reminders once acknowledged: {:?}", said(&rows));
    // Worse: notified again, and reminders resume.
    let rows = s.run(3, &[("be", 100, 100)]);
    assert_eq!(said(&rows), [["be worse CRITICAL"]]);
    let rows = s.run(25, &[("be", 100, 100)]);
    assert_eq!(said(&rows), [["be reminder CRITICAL"]]);
    assert!(s.d.ack(&s.e, "nope", "bob", s.t).unwrap_err().contains("unknown service"));
    s.run(130, &[("be", 100, 0)]);
    assert!(s.d.ack(&s.e, "be", "bob", s.t).unwrap_err().contains("no open incident"));
}

#[test]
fn quiet_hours_hold_warnings_for_one_digest_and_let_critical_through_even_across_a_restart() {
    // 1970-01-01: the quiet hours are 00:00 to 00:05 UTC, the test's first five minutes.
    let q = "[notify.default]\ngroup_wait = \"0s\"\n\
             quiet_hours = { start = \"00:00\", end = \"00:05\", time_zone = \"UTC\" }\n";
    let mut s = Sim::new(q);
    let rows = s.run(3, &[("be", 100, 6), ("ai", 100, 0)]);
    assert!(posts(&rows).is_empty(), "WARNING held");
    assert_eq!(edits(&rows, "be").len(), 1, "its living message is there, silently");
    let rows = s.run(3, &[("be", 100, 6), ("ai", 100, 100)]);
    assert_eq!(said(&rows), [["ai opened CRITICAL"]], "CRITICAL always notifies");
    s.restart_after(5);
    // A second WARNING incident starts and ends within the quiet hours: a line in the digest.
    s.run(5, &[("be", 100, 6), ("ai", 100, 100)]);
    let mut s2 = s;
    let until_end = 300_000 - s2.t;
    let rows = s2.run(until_end / 1000 - 1, &[("be", 100, 6), ("ai", 100, 100)]);
    assert!(posts(&rows).is_empty(), "nothing before the end of the quiet hours: {:?}", said(&rows));
    let rows = s2.run(2, &[("be", 100, 6), ("ai", 100, 100)]);
    let p = posts(&rows);
    assert_eq!(said(&rows), [["be opened WARNING"]], "one digest");
    assert!(p[0].digest.is_some());
    // Ended meanwhile: dropped, with a line.
    let mut s = Sim::new(q);
    s.run(3, &[("be", 100, 6)]);
    s.run(100, &[("be", 100, 0)]);
    let rows = s.run(200, &[("be", 100, 0)]);
    let p = posts(&rows);
    assert_eq!(p.len(), 1, "{:?}", said(&rows));
    assert!(p[0].items.is_empty());
    assert_eq!(p[0].digest.as_ref().unwrap().ended.iter().map(|e| e.service.as_str()).collect::<Vec<_>>(), ["be"]);
}

#[test]
fn a_group_pending_at_a_restart_goes_out_after_it() {
    let mut s = Sim::new("[notify.default]\nurgent_wait = \"5s\"\n");
    s.run(5, &OK);
    s.run(3, &[("be", 100, 100), ("ai", 100, 100)]);
    assert!(posts(&s.rows).is_empty());
    s.restart_after(20);
    let rows = s.run(1, &[("be", 100, 100), ("ai", 100, 100)]);
    assert_eq!(said(&rows), [["be opened CRITICAL", "ai opened CRITICAL"]]);
    assert!(posts(&s.run(5, &[("be", 100, 100), ("ai", 100, 100)])).is_empty());
}

#[test]
fn the_living_message_is_edited_every_minute_and_once_more_when_resolved() {
    let mut s = Sim::new("[notify.default]\ngroup_wait = \"0s\"\n");
    s.run(5, &[("be", 100, 0)]);
    s.run(3, &[("be", 100, 100)]);
    let rows = s.run(125, &[("be", 100, 100)]);
    assert_eq!(edits(&rows, "be").len(), 2, "two minutes, two edits");
    let rows = s.run(120, &[("be", 100, 0)]);
    let last = *edits(&rows, "be").last().unwrap();
    assert!(last.end.is_some() && last.now == Condition::OK);
    assert_eq!(said(&rows), [["be resolved OK"]]);
    assert!(s.d.incident("be").is_none());
    assert!(edits(&s.run(120, &[("be", 100, 0)]), "be").is_empty(), "nothing after the end");
}

#[test]
fn maintenance_mutes_like_a_silence() {
    let m = "[notify.default]\ngroup_wait = \"0s\"\n[[maintenance]]\nname = \"backup\"\nservices = [\"be\"]\n\
             from = \"1970-01-01T00:00:00Z\"\nuntil = \"1970-01-01T00:01:00Z\"\n";
    let mut s = Sim::new(m);
    s.run(5, &OK);
    let rows = s.run(5, &[("be", 100, 100), ("ai", 100, 100)]);
    assert_eq!(said(&rows), [["ai opened CRITICAL"]], "ai is not in the window");
    assert!(matches!(edits(&rows, "be").last().unwrap().mute, Some(Mute::Maintenance { .. })));
    let rows = s.run(55, &[("be", 100, 100), ("ai", 100, 100)]);
    assert_eq!(said(&rows), [["be opened CRITICAL"]]);
}

#[test]
fn a_group_of_warnings_waits_the_whole_group_wait() {
    let mut s = Sim::new("");
    let mut rows = s.run(1, &[("be", 100, 7), ("ai", 100, 0)]);
    let opened_at = s.e.services()["be"].incident.as_ref().unwrap().opened_ms;
    rows.extend(s.run(9, &[("be", 100, 7), ("ai", 100, 0)]));
    assert!(posts(&rows).is_empty(), "a WARNING waits the group wait: {rows:?}");
    let rows = s.run(1, &[("be", 100, 7), ("ai", 100, 0)]);
    assert_eq!((s.t - opened_at, said(&rows)), (10_000, vec![vec!["be opened WARNING".to_string()]]));
}

#[test]
fn by_default_a_critical_goes_out_a_second_after_it_is_decided() {
    let mut s = Sim::new("");
    s.run(5, &OK);
    let rows = s.run(1, &[("be", 100, 100), ("ai", 100, 100)]);
    assert!(posts(&rows).is_empty(), "held for the urgent wait");
    let rows = s.run(1, &[("be", 100, 100), ("ai", 100, 100)]);
    assert_eq!(said(&rows), [["be opened CRITICAL", "ai opened CRITICAL"]], "the same flush: one page");
}

#[test]
fn an_incident_that_opens_and_ends_within_its_group_wait_is_not_told() {
    // A health check that times out once on a loaded machine: DOWN, UP a few hundred ms later.
    let mut s = Sim::new("[notify.default]\nurgent_wait = \"3s\"\n");
    s.run(5, &OK);
    s.probe(true);
    s.probe(false);
    s.run(1, &OK);
    s.probe(true);
    s.run(15, &OK);
    assert!(posts(&s.rows).is_empty(), "no RESOLVED of a DOWN the channel never heard of: {:?}", said(&s.rows));
    assert!(s.d.incident("be").is_none(), "forgotten");
    // The next incident is told as usual.
    s.probe(false);
    s.run(5, &OK);
    assert_eq!(said(&s.rows), [["be opened DOWN"]]);
}
