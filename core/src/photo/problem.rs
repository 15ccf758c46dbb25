//! Why a photo fails, and what a candidate should know even when it passes: typed, with a stable
//! machine code and a Chinese and an English explanation.

use serde::{Deserialize, Serialize};

use super::container::ImageFormat;

/// A rule a photo breaks, or a reason a photo cannot be prepared.
///
/// [`PhotoProblem::code`] is stable and machine-readable; `Display` is the English text and
/// [`PhotoProblem::message_zh`] the Chinese one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PhotoProblem {
    /// The file is larger than anything a camera makes; it was not read.
    #[error("the file is {bytes} bytes; files over {max} bytes are not read")]
    InputTooLarge {
        /// File size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// Not a JPEG, PNG or WebP file.
    #[error("the file is not a JPEG, PNG or WebP image")]
    UnknownFormat,
    /// The file is cut short, inconsistent or cannot be decoded.
    #[error("the image file is damaged or incomplete ({detail})")]
    Corrupt {
        /// What was wrong (English, technical).
        detail: String,
    },
    /// The compressed image data is cut short or damaged, or covers less than the frame its
    /// header declares (a file truncated, or edited to claim another size).
    #[error("the image data is incomplete or damaged ({detail}); the file was cut short or edited")]
    DataDamaged {
        /// What was wrong (English, technical).
        detail: String,
    },
    /// A kind of JPEG that PDF viewers and printers do not support.
    #[error(
        "the photo's JPEG uses {coding}, which cannot be printed; save it as an ordinary (baseline) JPEG"
    )]
    UnsupportedJpeg {
        /// What the file uses (English, technical), e.g. `lossless coding`.
        coding: String,
    },
    /// The header declares more pixels than are decoded.
    #[error("the image declares {width}×{height} pixels; images over {max} pixels are not decoded")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit in pixels.
        max: u64,
    },
    /// The photo must be a JPEG file.
    #[error("the photo must be a JPEG file, not {}", .format.name())]
    NotJpeg {
        /// The format found.
        format: ImageFormat,
    },
    /// The file is smaller than the minimum size.
    #[error("the photo file is {bytes} bytes; it must be at least {min} bytes ({} KB)", .min / 1024)]
    FileTooSmall {
        /// File size.
        bytes: u64,
        /// The minimum.
        min: u32,
    },
    /// The file is larger than the maximum size.
    #[error("the photo file is {bytes} bytes; it must be at most {max} bytes ({} KB)", .max / 1024)]
    FileTooLarge {
        /// File size.
        bytes: u64,
        /// The maximum.
        max: u32,
    },
    /// Fewer pixels than the minimum.
    #[error(
        "the photo is {width}×{height} pixels; it must be at least {min_width}×{min_height} (width×height)"
    )]
    DimensionsTooSmall {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Minimum width.
        min_width: u32,
        /// Minimum height.
        min_height: u32,
    },
    /// Not the frame's width:height ratio.
    #[error(
        "the photo is {width}×{height}; it must have a {aspect_width}:{aspect_height} width:height ratio"
    )]
    WrongAspect {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Frame width.
        aspect_width: u32,
        /// Frame height.
        aspect_height: u32,
    },
    /// The photo carries an EXIF rotation tag; printers and review screens may ignore it.
    #[error("the photo relies on an EXIF rotation tag ({value}); it must be stored upright without one")]
    OrientationTag {
        /// The tag's value (2–8).
        value: u16,
    },
    /// Black-and-white or grey picture.
    #[error("the photo must be in colour, not black and white")]
    Grayscale,
    /// A face was found only with the picture turned; it is sideways or upside down.
    #[error("the face is turned by {degrees}°; the photo must be upright")]
    FaceNotUpright {
        /// Clockwise turn at which the face was found (90, 180 or 270).
        degrees: u16,
    },
    /// The head reaches past the edge of the picture.
    #[error("the head is cut off by the edge of the picture")]
    FaceCut,
    /// The head is too small in the frame.
    #[error("the head fills {:.0}% of the height; it should be about {:.0}%", .ratio * 100.0, .want * 100.0)]
    HeadTooSmall {
        /// Measured head height / photo height.
        ratio: f32,
        /// The rule.
        want: f32,
    },
    /// The head is too large in the frame.
    #[error("the head fills {:.0}% of the height; it should be about {:.0}%", .ratio * 100.0, .want * 100.0)]
    HeadTooLarge {
        /// Measured head height / photo height.
        ratio: f32,
        /// The rule.
        want: f32,
    },
    /// Too little or too much space above the head.
    #[error("the space above the head is {:.0}% of the height; it should be about {:.0}%", .margin * 100.0, .want * 100.0)]
    TopMargin {
        /// Measured margin / photo height.
        margin: f32,
        /// The rule.
        want: f32,
    },
    /// The face is not centred horizontally.
    #[error("the face is not centred (its centre is at {:.0}% of the width)", .position * 100.0)]
    FaceOffCentre {
        /// Face centre / photo width.
        position: f32,
    },
    /// The source picture has too few pixels around the face for the minimum size.
    #[error(
        "the picture is too small: the framed photo would be {width}×{height}, below the minimum {min_width}×{min_height}"
    )]
    SourceTooSmall {
        /// Width the frame would have.
        width: u32,
        /// Height the frame would have.
        height: u32,
        /// Minimum width.
        min_width: u32,
        /// Minimum height.
        min_height: u32,
    },
    /// The face fills too much of the picture to leave room above and around the head.
    #[error("the face is too close to the camera: there is no room for the frame around the head")]
    FaceTooClose,
    /// No quality and size inside the limits gives a file inside the byte range.
    #[error("no JPEG quality gives a file between {min} and {max} bytes (got {smallest}–{largest} bytes)")]
    BytesUnreachable {
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
        /// Smallest file obtained.
        smallest: u64,
        /// Largest file obtained.
        largest: u64,
    },
}

impl PhotoProblem {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoProblem::InputTooLarge { .. } => "photo_input_too_large",
            PhotoProblem::UnknownFormat => "photo_unknown_format",
            PhotoProblem::Corrupt { .. } => "photo_corrupt",
            PhotoProblem::DataDamaged { .. } => "photo_data_damaged",
            PhotoProblem::UnsupportedJpeg { .. } => "photo_jpeg_unsupported",
            PhotoProblem::TooManyPixels { .. } => "photo_too_many_pixels",
            PhotoProblem::NotJpeg { .. } => "photo_not_jpeg",
            PhotoProblem::FileTooSmall { .. } => "photo_file_too_small",
            PhotoProblem::FileTooLarge { .. } => "photo_file_too_large",
            PhotoProblem::DimensionsTooSmall { .. } => "photo_dimensions_too_small",
            PhotoProblem::WrongAspect { .. } => "photo_wrong_aspect",
            PhotoProblem::OrientationTag { .. } => "photo_orientation_tag",
            PhotoProblem::Grayscale => "photo_grayscale",
            PhotoProblem::FaceNotUpright { .. } => "photo_face_not_upright",
            PhotoProblem::FaceCut => "photo_face_cut",
            PhotoProblem::HeadTooSmall { .. } => "photo_head_too_small",
            PhotoProblem::HeadTooLarge { .. } => "photo_head_too_large",
            PhotoProblem::TopMargin { .. } => "photo_top_margin",
            PhotoProblem::FaceOffCentre { .. } => "photo_face_off_centre",
            PhotoProblem::SourceTooSmall { .. } => "photo_source_too_small",
            PhotoProblem::FaceTooClose => "photo_face_too_close",
            PhotoProblem::BytesUnreachable { .. } => "photo_bytes_unreachable",
        }
    }

    /// The English explanation (the same as `Display`).
    pub fn message_en(&self) -> String {
        self.to_string()
    }

    /// The candidate-facing Chinese explanation.
    pub fn message_zh(&self) -> String {
        match self {
            PhotoProblem::InputTooLarge { bytes, max } => {
                format!("文件大小为{bytes}字节，超过{max}字节的文件不予读取")
            }
            PhotoProblem::UnknownFormat => "文件不是JPEG、PNG或WebP图片".to_owned(),
            PhotoProblem::Corrupt { .. } => "图片文件已损坏或不完整".to_owned(),
            PhotoProblem::DataDamaged { .. } => {
                "照片的图像数据不完整或已损坏（文件被截断或修改过），请用原始照片重新生成后再上传".to_owned()
            }
            PhotoProblem::UnsupportedJpeg { .. } => {
                "照片的JPEG编码方式（如无损或算术编码）无法打印，请另存为普通（基线）JPEG格式".to_owned()
            }
            PhotoProblem::TooManyPixels { width, height, max } => {
                format!("图片尺寸为{width}×{height}像素，超过{max}像素的图片不予解码")
            }
            PhotoProblem::NotJpeg { format } => format!("照片必须是JPEG格式，当前为{}格式", format.name()),
            PhotoProblem::FileTooSmall { bytes, min } => {
                format!("照片文件为{bytes}字节，不得小于{min}字节（{}KB）", min / 1024)
            }
            PhotoProblem::FileTooLarge { bytes, max } => {
                format!("照片文件为{bytes}字节，不得大于{max}字节（{}KB）", max / 1024)
            }
            PhotoProblem::DimensionsTooSmall { width, height, min_width, min_height } => {
                format!("照片尺寸为{width}×{height}像素，至少应为{min_width}×{min_height}像素（宽×高）")
            }
            PhotoProblem::WrongAspect { width, height, aspect_width, aspect_height } => {
                format!("照片尺寸为{width}×{height}，宽高比应为{aspect_width}:{aspect_height}")
            }
            PhotoProblem::OrientationTag { value } => {
                format!("照片依赖EXIF旋转标记（{value}），请保存为正向且不带旋转标记的照片")
            }
            PhotoProblem::Grayscale => "照片必须为彩色，不能是黑白照片".to_owned(),
            PhotoProblem::FaceNotUpright { degrees } => {
                format!("人脸旋转了{degrees}°，照片必须端正")
            }
            PhotoProblem::FaceCut => "头部超出了图片边缘".to_owned(),
            PhotoProblem::HeadTooSmall { ratio, want } => {
                format!("头部占照片高度的{:.0}%，偏小，应约为{:.0}%", ratio * 100.0, want * 100.0)
            }
            PhotoProblem::HeadTooLarge { ratio, want } => {
                format!("头部占照片高度的{:.0}%，偏大，应约为{:.0}%", ratio * 100.0, want * 100.0)
            }
            PhotoProblem::TopMargin { margin, want } => {
                format!("头顶以上留白占照片高度的{:.0}%，应约为{:.0}%", margin * 100.0, want * 100.0)
            }
            PhotoProblem::FaceOffCentre { position } => {
                format!("人脸未居中（人脸中心位于宽度的{:.0}%处）", position * 100.0)
            }
            PhotoProblem::SourceTooSmall { width, height, min_width, min_height } => {
                format!("图片太小：裁剪后只有{width}×{height}像素，低于最小尺寸{min_width}×{min_height}像素")
            }
            PhotoProblem::FaceTooClose => "人脸离镜头太近，头部周围没有足够的留白".to_owned(),
            PhotoProblem::BytesUnreachable { min, max, .. } => {
                format!("无法将照片压缩到{}KB至{}KB之间", min / 1024, max / 1024)
            }
        }
    }
}

/// Something a candidate should know about a photo that does not, by itself, fail it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum PhotoWarning {
    /// No face was found; the face rules could not be checked (and `prepare` used a centred crop).
    #[error("no face was found: check yourself that the photo shows your whole head, upright and centred")]
    NoFaceFound,
    /// `prepare` enlarged the picture to reach the minimum file size.
    #[error(
        "the picture was enlarged to reach the minimum file size; a sharper original gives a better photo"
    )]
    Upscaled,
}

impl PhotoWarning {
    /// A stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            PhotoWarning::NoFaceFound => "photo_no_face_found",
            PhotoWarning::Upscaled => "photo_upscaled",
        }
    }

    /// The English explanation (the same as `Display`).
    pub fn message_en(self) -> String {
        self.to_string()
    }

    /// The candidate-facing Chinese explanation.
    pub fn message_zh(self) -> String {
        match self {
            PhotoWarning::NoFaceFound => "未检测到人脸：请自行确认照片显示完整头部、端正且居中".to_owned(),
            PhotoWarning::Upscaled => "为达到最小文件大小，图片已被放大；使用更清晰的原图效果更好".to_owned(),
        }
    }
}
