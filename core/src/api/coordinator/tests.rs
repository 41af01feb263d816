use super::*;
use serde_json::json;

const MEM: &str = "mem_0000000000000000000001";
const KEY: &str = "key_0000000000000000000001";

#[test]
fn every_operation_is_found_by_its_path_and_no_other() {
    let paths: Vec<&str> = Op::ALL.iter().map(|op| op.path()).collect();
    assert_eq!(
        paths,
        [
            "/runs/start",
            "/outbox/wake",
            "/repairs/wake",
            "/exports/start",
            "/repairs/approve"
        ]
    );
    for op in Op::ALL {
        assert_eq!(Op::of_path(op.path()), Some(op));
    }
    assert_eq!(Op::of_path("/runs/start/"), None);
    assert_eq!(Op::of_path("/"), None);
}

fn seal() -> CallerSeal {
    CallerSeal {
        member: MEM.into(),
        key: KEY.into(),
        minted_role: Some("member".into()),
        role: "admin".into(),
        override_role: None,
    }
}

#[test]
fn the_bodies_keep_their_field_names_and_name_their_project() {
    let a = Approval {
        org: "org_1".into(),
        project: "prj_1".into(),
        repair: "rep_1".into(),
        environment: Environment::Live,
        caller: Some(seal()),
    };
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        json!({"org": "org_1", "project": "prj_1", "repair": "rep_1", "environment": "live",
               "caller": {"member": MEM, "key": KEY, "minted_role": "member", "role": "admin",
                          "override_role": null}})
    );
    assert_eq!(a.project(), "prj_1");
    let back: Approval = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
    assert_eq!(back.caller.unwrap().key, KEY);
    let r = Assignment {
        org: "o".into(),
        project: "p".into(),
        run: String::new(),
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"org": "o", "project": "p", "run": ""})
    );
    assert_eq!(r.project(), "p");
    let e = ExportAssignment {
        org: "o".into(),
        project: "q".into(),
        export: "exp_1".into(),
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"org": "o", "project": "q", "export": "exp_1"})
    );
    assert_eq!(e.project(), "q");
}

#[test]
fn a_sealed_caller_approves_as_its_member_and_key() {
    match seal().approver().unwrap() {
        Approver::Person { member, key } => {
            assert_eq!((member.as_str(), key.as_str()), (MEM, KEY));
        }
        Approver::Automatic => panic!("a person sealed"),
    }
    let mut bad = seal();
    bad.key = "nope".into();
    assert!(matches!(bad.approver(), Err(Fault::Internal(_))));
    let mut bad = seal();
    bad.member = KEY.into();
    assert!(matches!(bad.approver(), Err(Fault::Internal(_))));
}
