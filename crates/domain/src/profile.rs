//! The hosted assistant's profiles: what the operator tunes (instructions, model, temperature,
//! output length, conversation starters, the models allowed), versioned: every save is a new
//! version, one version is published, and an earlier one can be published again (rollback).

use time::OffsetDateTime;

/// A profile that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistantProfile {
    pub name: String,
    /// The system prompt.
    pub instructions: String,
    /// The model answers come from; one of `allowed_models`.
    pub model: String,
    /// 0 to 2.
    pub temperature: f32,
    pub max_output_tokens: u32,
    /// Up to four suggestions shown before the first message.
    pub starters: Vec<String>,
    /// The models a chat may ask for (the operator's list); never empty.
    pub allowed_models: Vec<String>,
}

/// What the operator typed.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: String,
    pub instructions: String,
    pub model: String,
    pub temperature: f32,
    pub max_output_tokens: u32,
    pub starters: Vec<String>,
    pub allowed_models: Vec<String>,
}

/// Why a profile is refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("name must be 1 to {max} characters")]
    Name { max: usize },
    #[error("instructions must be at most {max} characters")]
    Instructions { max: usize },
    #[error("allowed models must list 1 to {max} model names of 1 to {len} characters (letters, digits, and - _ . : /)")]
    AllowedModels { max: usize, len: usize },
    #[error("model must be one of the allowed models")]
    Model,
    #[error("temperature must be from 0 to 2")]
    Temperature,
    #[error("max output tokens must be from 1 to {max}")]
    MaxOutputTokens { max: u32 },
    #[error("at most {max} conversation starters of 1 to {len} characters each")]
    Starters { max: usize, len: usize },
}

impl AssistantProfile {
    pub const MAX_NAME: usize = 100;
    pub const MAX_INSTRUCTIONS: usize = 20_000;
    pub const MAX_MODELS: usize = 20;
    pub const MAX_MODEL_NAME: usize = 100;
    pub const MAX_OUTPUT_TOKENS: u32 = 32_768;
    pub const MAX_STARTERS: usize = 4;
    pub const MAX_STARTER: usize = 200;

    /// The profile `input` describes, trimmed, or the first rule it breaks.
    pub fn parse(input: ProfileInput) -> Result<Self, ProfileError> {
        let name = input.name.trim().to_owned();
        let chars = |s: &str| s.chars().count();
        if name.is_empty() || chars(&name) > Self::MAX_NAME || name.chars().any(char::is_control) {
            return Err(ProfileError::Name {
                max: Self::MAX_NAME,
            });
        }
        let instructions = input.instructions.trim().to_owned();
        if chars(&instructions) > Self::MAX_INSTRUCTIONS {
            return Err(ProfileError::Instructions {
                max: Self::MAX_INSTRUCTIONS,
            });
        }
        let mut allowed_models: Vec<String> = Vec::new();
        for model in input.allowed_models.iter().map(|m| m.trim()) {
            let valid = !model.is_empty()
                && chars(model) <= Self::MAX_MODEL_NAME
                && model
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
            if !valid {
                return Err(ProfileError::AllowedModels {
                    max: Self::MAX_MODELS,
                    len: Self::MAX_MODEL_NAME,
                });
            }
            if !allowed_models.iter().any(|m| m == model) {
                allowed_models.push(model.to_owned());
            }
        }
        if allowed_models.is_empty() || allowed_models.len() > Self::MAX_MODELS {
            return Err(ProfileError::AllowedModels {
                max: Self::MAX_MODELS,
                len: Self::MAX_MODEL_NAME,
            });
        }
        let model = input.model.trim().to_owned();
        if !allowed_models.contains(&model) {
            return Err(ProfileError::Model);
        }
        if !(0.0..=2.0).contains(&input.temperature) || input.temperature.is_nan() {
            return Err(ProfileError::Temperature);
        }
        if !(1..=Self::MAX_OUTPUT_TOKENS).contains(&input.max_output_tokens) {
            return Err(ProfileError::MaxOutputTokens {
                max: Self::MAX_OUTPUT_TOKENS,
            });
        }
        let starters: Vec<String> = input
            .starters
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if starters.len() > Self::MAX_STARTERS
            || starters
                .iter()
                .any(|s| chars(s) > Self::MAX_STARTER || s.chars().any(char::is_control))
        {
            return Err(ProfileError::Starters {
                max: Self::MAX_STARTERS,
                len: Self::MAX_STARTER,
            });
        }
        Ok(Self {
            name,
            instructions,
            model,
            temperature: input.temperature,
            max_output_tokens: input.max_output_tokens,
            starters,
            allowed_models,
        })
    }
}

/// One saved version of the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileVersion {
    /// 1, 2, 3... in the order saved.
    pub version: u32,
    pub profile: AssistantProfile,
    pub saved_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProfileInput {
        ProfileInput {
            name: " Spanish tutor ".into(),
            instructions: "You are a patient Spanish tutor.".into(),
            model: "gpt-4o-mini".into(),
            temperature: 0.7,
            max_output_tokens: 800,
            starters: vec!["Practise ser and estar".into(), "  ".into()],
            allowed_models: vec![
                "gpt-4o-mini".into(),
                " llama3.1:8b ".into(),
                "gpt-4o-mini".into(),
            ],
        }
    }

    #[test]
    fn a_valid_profile_is_trimmed_and_its_lists_cleaned() {
        let p = AssistantProfile::parse(input()).unwrap();
        assert_eq!(p.name, "Spanish tutor");
        assert_eq!(p.starters, ["Practise ser and estar"]);
        assert_eq!(p.allowed_models, ["gpt-4o-mini", "llama3.1:8b"]);
    }

    #[test]
    fn every_bound_holds_at_its_edge() {
        let ok = |f: &dyn Fn(&mut ProfileInput)| {
            let mut i = input();
            f(&mut i);
            AssistantProfile::parse(i)
        };
        // The largest accepted.
        assert!(ok(&|i| i.name = "n".repeat(100)).is_ok());
        assert!(ok(&|i| i.instructions = "i".repeat(20_000)).is_ok());
        assert!(ok(&|i| i.temperature = 0.0).is_ok());
        assert!(ok(&|i| i.temperature = 2.0).is_ok());
        assert!(ok(&|i| i.max_output_tokens = 1).is_ok());
        assert!(ok(&|i| i.max_output_tokens = 32_768).is_ok());
        assert!(ok(&|i| i.starters = vec!["s".repeat(200); 4]).is_ok());
        assert!(ok(&|i| {
            i.allowed_models = (0..20).map(|n| format!("m{n}")).collect();
            i.model = "m0".into();
        })
        .is_ok());
        assert!(ok(&|i| {
            i.allowed_models = vec!["m".repeat(100)];
            i.model = "m".repeat(100);
        })
        .is_ok());
        // One more refused.
        for (f, error) in [
            (
                Box::new(|i: &mut ProfileInput| i.name = "n".repeat(101))
                    as Box<dyn Fn(&mut ProfileInput)>,
                ProfileError::Name { max: 100 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.name = "  ".into()),
                ProfileError::Name { max: 100 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.instructions = "i".repeat(20_001)),
                ProfileError::Instructions { max: 20_000 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.temperature = 2.01),
                ProfileError::Temperature,
            ),
            (
                Box::new(|i: &mut ProfileInput| i.temperature = -0.01),
                ProfileError::Temperature,
            ),
            (
                Box::new(|i: &mut ProfileInput| i.temperature = f32::NAN),
                ProfileError::Temperature,
            ),
            (
                Box::new(|i: &mut ProfileInput| i.max_output_tokens = 0),
                ProfileError::MaxOutputTokens { max: 32_768 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.max_output_tokens = 32_769),
                ProfileError::MaxOutputTokens { max: 32_768 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.starters = vec!["s".into(); 5]),
                ProfileError::Starters { max: 4, len: 200 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.starters = vec!["s".repeat(201)]),
                ProfileError::Starters { max: 4, len: 200 },
            ),
            (
                Box::new(|i: &mut ProfileInput| i.model = "gpt-5".into()),
                ProfileError::Model,
            ),
            (
                Box::new(|i: &mut ProfileInput| i.allowed_models = vec![]),
                ProfileError::AllowedModels { max: 20, len: 100 },
            ),
            (
                Box::new(|i: &mut ProfileInput| {
                    i.allowed_models = (0..21).map(|n| format!("m{n}")).collect();
                    i.model = "m0".into();
                }),
                ProfileError::AllowedModels { max: 20, len: 100 },
            ),
            (
                Box::new(|i: &mut ProfileInput| {
                    i.allowed_models = vec!["m".repeat(101)];
                    i.model = "m".repeat(101);
                }),
                ProfileError::AllowedModels { max: 20, len: 100 },
            ),
            (
                Box::new(|i: &mut ProfileInput| {
                    i.allowed_models = vec!["bad model<>".into()];
                    i.model = "bad model<>".into();
                }),
                ProfileError::AllowedModels { max: 20, len: 100 },
            ),
        ] {
            assert_eq!(ok(&*f), Err(error.clone()), "{error}");
        }
    }
}
